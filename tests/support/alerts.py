"""Helpers for the Slack alerting tests: store scored posts directly, a hand-moved clock, a wired pipeline."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.slack import SlackNotifier
from alerts.slack_loopback import SlackLoopback
from core.settings import Settings
from core.storage import Database, insert_ignore
from core.storage.schema import ClassificationRow, MentionRow
from monitor.pipeline.deliver import Deliverer
from monitor.pipeline.route import route_pending
from tests.support.clock import Clock

BRAND = "Kestrel Mobile"
T0 = datetime(2026, 11, 19, 7, 40, tzinfo=UTC)
_ids = itertools.count(1_000_000)



@dataclass
class Post:
    """A post with the scores the classifier would have given it."""

    text: str
    at: datetime = T0
    handle: str = ""
    followers: int | None = 100
    network: str = "x"
    sentiment: str = "negative"
    complaint: bool = True
    urgency: float = 0.6
    category: str = "outage"
    level: str = "high"
    brand: str = BRAND
    parent_id: str | None = None
    external_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    verified: bool = False
    language: str = "en"


def store(db: Database, posts: Iterable[Post], *, now: datetime | None = None) -> list[int]:
    """Store posts and their scores as ingest and classify would; return the mention ids in order."""
    ids = []
    with db.session() as session:
        for post in posts:
            external = post.external_id or str(next(_ids))
            handle = post.handle or f"user{external}"
            inserted = insert_ignore(
                session,
                MentionRow,
                [
                    {
                        "network": post.network,
                        "external_id": external,
                        "brand": post.brand,
                        "source_name": "test",
                        "author_handle": handle,
                        "author_name": handle.title(),
                        "author_followers": post.followers,
                        "author_verified": post.verified,
                        "text": post.text,
                        "language": post.language,
                        "url": f"https://x.com/{handle}/status/{external}",
                        "created_at": post.at,
                        "ingested_at": now or post.at,
                        "conversation_id": post.parent_id or external,
                        "parent_id": post.parent_id,
                        "reply_path": "api",
                        "reply_path_reason": None,
                        "raw": post.raw,
                    }
                ],
                conflict=("network", "external_id"),
                returning=("id",),
            )
            mention_id = inserted[0][0]
            insert_ignore(
                session,
                ClassificationRow,
                [
                    {
                        "mention_id": mention_id,
                        "model": "test-labels",
                        "sentiment": post.sentiment,
                        "sentiment_probs": {post.sentiment: 0.9},
                        "complaint": post.complaint,
                        "complaint_prob": 0.9 if post.complaint else 0.1,
                        "severity": 3 if post.complaint else 0,
                        "urgency_score": post.urgency,
                        "urgency_category": post.category,
                        "urgency_level": post.level,
                        "language": post.language,
                        "needs_human": False,
                        "needs_human_reason": None,
                        "matched_query": True,
                        "explanation": {"urgency": ["down"]},
                        "classified_at": now or post.at,
                    }
                ],
                conflict=("mention_id",),
            )
            ids.append(mention_id)
    return ids


class Wired:
    """Route and deliver against one database and a loopback Slack, on a hand-moved clock."""

    def __init__(self, db: Database, settings: Settings, slack: SlackLoopback, clock: Clock, **deliverer: Any) -> None:
        self.db, self.settings, self.slack, self.clock = db, settings, slack, clock
        self.sleeps: list[float] = []
        self.notifier = SlackNotifier(token="xoxb-test-secret-token", base_url=slack.base_url)
        options = {
            "messages_per_second": settings.slack.messages_per_second,
            "clock": clock,
            "sleep": self.sleeps.append,
            **deliverer,
        }
        self.deliverer = Deliverer(db, {"slack": self.notifier}, **options)

    def route(self) -> int:
        """Route everything stored."""
        return route_pending(self.db, self.settings, now=self.clock())

    def drain(self) -> int:
        """Deliver until nothing more is due; return how many sends went out."""
        total = 0
        while (sent := self.deliverer.deliver_due()) > 0:
            total += sent
        return total
