"""Helpers for the queue, reply and web tests: store posts, score them as told, route them into the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.settings import Settings
from core.storage import Database, insert_ignore
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.route import route_pending
from sources.base import Source

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
BRAND = "Kestrel Mobile"


class StoredOnlySource(Source):
    """Names the source rows are stored under; the tests store batches directly instead of polling."""

    network = "x"

    def poll(self, cursor: str | None) -> Batch:
        raise NotImplementedError("queue tests store batches directly")


class PostingSource(Source):
    """A network that accepts replies and remembers them, numbering posted replies from 9000."""

    network = "x"

    def __init__(self, *, fail_with: Exception | None = None) -> None:
        super().__init__(name="x-kestrel", brand="Kestrel Mobile", options={})
        self.posted: list[tuple[str, str]] = []
        self.fail_with = fail_with

    def poll(self, cursor: str | None) -> Batch:
        return Batch((), cursor, exhausted=True)

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        if self.fail_with is not None:
            raise self.fail_with
        self.posted.append((mention.external_id, text))
        reply_id = str(9000 + len(self.posted))
        return PostedReply(external_id=reply_id, url=f"https://x.com/KestrelMobile/status/{reply_id}",
                           posted_at=NOW + timedelta(minutes=1), raw={"id": reply_id})


@dataclass(frozen=True, slots=True)
class Labels:
    """The scores a test wants a post to have."""

    sentiment: str = "negative"
    complaint: bool = True
    urgency_score: float = 0.6
    urgency_category: str = "outage"
    level: str = "high"


def post(
    external_id: str,
    text: str = "@KestrelMobile no signal since this morning",
    *,
    handle: str = "jo_bloggs",
    name: str = "Jo Bloggs",
    network: str = "x",
    minutes_ago: int = 5,
    conversation_id: str | None = None,
    parent_id: str | None = None,
    reply_path: ReplyPath = ReplyPath.API,
    reply_path_reason: str | None = None,
    raw: dict[str, object] | None = None,
    addressed: bool = False,
) -> Mention:
    """Return a post as a source would normalise it."""
    return Mention(
        network=network,
        external_id=external_id,
        author_handle=handle,
        author_name=name,
        text=text,
        created_at=NOW - timedelta(minutes=minutes_ago),
        url=f"https://x.com/{handle}/status/{external_id}",
        language="en",
        conversation_id=conversation_id,
        parent_id=parent_id,
        reply_path=reply_path,
        reply_path_reason=reply_path_reason,
        addressed=addressed,
        raw=raw or {"id": external_id},
    )


def seed(
    db: Database,
    settings: Settings,
    mentions: Sequence[Mention],
    labels: dict[str, Labels] | None = None,
    *,
    now: datetime = NOW,
    source_name: str = "x-kestrel",
) -> dict[str, tuple[int, int | None]]:
    """Store, score and route `mentions`; return external id -> (mention id, queue item id or None)."""
    source = StoredOnlySource(name=source_name, brand=BRAND, options={})
    store_batch(db, source, Batch(tuple(mentions), None), now=now)
    labels = labels or {}
    with db.session() as session:
        stored = {
            external_id: mention_id
            for mention_id, external_id in session.execute(
                select(MentionRow.id, MentionRow.external_id).where(
                    MentionRow.external_id.in_([m.external_id for m in mentions]))
            ).all()
        }
        rows = []
        for mention in mentions:
            label = labels.get(mention.external_id, Labels())
            rows.append({
                "mention_id": stored[mention.external_id], "model": "test-labels", "sentiment": label.sentiment,
                "sentiment_probs": {label.sentiment: 0.9}, "complaint": label.complaint,
                "complaint_prob": 0.9 if label.complaint else 0.1, "severity": 2 if label.complaint else 0,
                "urgency_score": label.urgency_score, "urgency_category": label.urgency_category,
                "urgency_level": label.level, "language": "en", "needs_human": False, "needs_human_reason": None,
                "matched_query": True, "explanation": {}, "classified_at": now,
            })
        insert_ignore(session, ClassificationRow, rows, conflict=("mention_id",))
    route_pending(db, settings, now=now)
    with db.session() as session:
        items = dict(session.execute(
            select(QueueItemRow.mention_id, QueueItemRow.id).where(QueueItemRow.mention_id.in_(stored.values()))
        ).all())
    return {external_id: (mention_id, items.get(mention_id)) for external_id, mention_id in stored.items()}
