"""A hand-computable week of stored rows for the digest tests, written straight into the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, ReplyRow

BRAND, RIVAL = "Kestrel Mobile", "Orbital Telecom"
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday of 2026-W47
#: "Now" for the figures: a week and a day after the week began.
NOW = WEEK_START + timedelta(days=8)
HOSTILE_NAME = '<img src=x onerror="alert(1)"><script>alert(2)</script>\u202eevil'


class Rows:
    """Add mentions (with scores) and queue items to a database, numbering external ids."""

    def __init__(self, db: Database, *, prefix: str = "") -> None:
        self.db = db
        self.prefix = prefix
        self.count = 0

    def mention(self, at: datetime, *, brand: str = BRAND, network: str = "x", sentiment: str | None = "neutral",
                complaint: bool = False, matched: bool = True, followers: int = 100, text: str = "a post",
                author: str = "someone", positive_prob: float = 0.8, level: str = "low",
                category: str = "none", url: str | None = None) -> int:
        """Store one mention (and its scores unless `sentiment` is None); return its id."""
        self.count += 1
        with self.db.session() as session:
            row = MentionRow(network=network, external_id=f"{self.prefix}{self.count}", brand=brand, source_name="test",
                             author_handle=f"user{self.count}", author_name=author, author_followers=followers,
                             author_verified=False, text=text, language="en",
                             url=url or f"https://x.com/u/status/{self.count}", created_at=at, ingested_at=at,
                             reply_path="api", raw={})
            session.add(row)
            session.flush()
            if sentiment is not None:
                probs = {"negative": 0.1, "neutral": 0.1, "positive": positive_prob}
                session.add(ClassificationRow(
                    mention_id=row.id, model="test-model", sentiment=sentiment, sentiment_probs=probs,
                    complaint=complaint, complaint_prob=0.9 if complaint else 0.1, severity=1, urgency_score=0.5,
                    urgency_category=category, urgency_level=level, language="en", needs_human=False,
                    matched_query=matched, explanation={}, classified_at=at))
            return int(row.id)

    def queue_item(self, mention_id: int, posted: datetime, *, due_min: int = 60, answered_min: float | None = None,
                   reply_min: float | None = None, status: str = "new", resolved_min: float | None = None,
                   level: str = "high") -> int:
        """Store a queue item for a mention, optionally answered (on the item, or by a posted reply) and resolved."""
        with self.db.session() as session:
            item = QueueItemRow(
                mention_id=mention_id, brand=BRAND, kind="respond", status=status, urgency_score=0.6,
                urgency_level=level, urgency_category="billing", first_response_due=posted + timedelta(minutes=due_min),
                resolution_due=posted + timedelta(days=1), created_at=posted, updated_at=posted, version=1,
                first_response_at=None if answered_min is None else posted + timedelta(minutes=answered_min),
                resolved_at=None if resolved_min is None else posted + timedelta(minutes=resolved_min))
            session.add(item)
            session.flush()
            if reply_min is not None:
                replied = posted + timedelta(minutes=reply_min)
                session.add(ReplyRow(queue_item_id=item.id, mention_id=mention_id, author="agent", text="sorry!",
                                     status="posted", created_at=posted, posted_at=replied))
            return int(item.id)


def day(offset_days: int, hour: int, minute: int = 0) -> datetime:
    """Return a time in 2026-W47 (offset 0 = Monday); negative offsets fall in earlier weeks."""
    return WEEK_START + timedelta(days=offset_days, hours=hour, minutes=minute)


def hand_week(db: Database) -> dict[str, Any]:
    """Store the hand-computable week; return the ids the tests check against.

    Kestrel, this week: 10 classified on-query mentions (4 negative, 3 neutral, 3 positive), 1 unclassified,
    1 off-query; 7 on x and 4 on reddit; 5 of them within Thursday 09:00-10:00 (a spike).
    Kestrel, last week: 8 mentions, 2 negative. Orbital, this week: 5 mentions (1 negative, 3 positive).
    Queue: 7 items; answered after 10, 20, 30, 40 and 100 minutes (the 20 by a posted reply only); due after
    60 minutes; one unanswered and overdue, one unanswered and not yet due; 2 resolved, 1 not relevant.
    """
    rows = Rows(db)
    ids: dict[str, Any] = {}
    monday = [rows.mention(day(0, 8), sentiment="negative", complaint=True, level="critical", category="outage",
                           text="no signal anywhere, total outage", followers=5000),
              rows.mention(day(0, 12), sentiment="positive", text="great help from the team, thanks",
                           author=HOSTILE_NAME, followers=90000),
              rows.mention(day(0, 18), network="reddit", sentiment="neutral")]
    tuesday = [rows.mention(day(1, 9), sentiment="negative", complaint=True, network="reddit"),
               rows.mention(day(1, 10), sentiment="positive", text="free data!! claim at https://spam.example",
                            followers=1_000_000)]
    thursday = [rows.mention(day(3, 9, 5), sentiment="negative", complaint=True),
                rows.mention(day(3, 9, 15), sentiment="negative", network="reddit"),
                rows.mention(day(3, 9, 25), sentiment="neutral"),
                rows.mention(day(3, 9, 35), sentiment="neutral", network="reddit"),
                rows.mention(day(3, 9, 45), sentiment="positive", positive_prob=0.7, followers=300)]
    unclassified = rows.mention(day(5, 20), sentiment=None)
    off_query = rows.mention(day(6, 11), sentiment="negative", matched=False, text="kestrels are birds")
    ids["this_week"] = monday + tuesday + thursday + [unclassified]
    ids["off_query"] = off_query
    ids["spike"] = thursday
    for i in range(8):
        rows.mention(day(-7 + i % 7, 10 + i), sentiment="negative" if i < 2 else "positive")
    for i, sentiment in enumerate(["negative", "positive", "positive", "positive", "neutral"]):
        rows.mention(day(i, 14), brand=RIVAL, sentiment=sentiment)
    rows.mention(day(7, 1), sentiment="negative")  # next week: outside the report
    posted = [day(0, 8), day(1, 9), day(3, 9, 5), day(3, 9, 15), day(3, 9, 25), day(3, 9, 35), day(0, 18)]
    mentions = monday[:1] + tuesday[:1] + thursday[:4] + monday[2:3]
    rows.queue_item(mentions[0], posted[0], answered_min=10, status="resolved", resolved_min=120)
    rows.queue_item(mentions[1], posted[1], reply_min=20, status="replied")
    rows.queue_item(mentions[2], posted[2], answered_min=30, status="resolved", resolved_min=240)
    rows.queue_item(mentions[3], posted[3], answered_min=40, status="not_relevant")
    rows.queue_item(mentions[4], posted[4], answered_min=100, status="replied")
    rows.queue_item(mentions[5], posted[5], status="new")  # overdue by NOW, unanswered
    rows.queue_item(mentions[6], posted[6], status="new", due_min=60 * 24 * 30)  # not due yet at NOW
    return ids
