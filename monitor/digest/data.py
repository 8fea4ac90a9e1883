"""Read the stored rows a digest is computed from: mentions with their scores, and queue items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import distinct, func, select

from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, ReplyRow
from monitor.queue.cases import Post


@dataclass(frozen=True, slots=True)
class PostRecord:
    """One stored mention and its scores (the score fields are None while it is unclassified)."""

    mention_id: int
    brand: str
    network: str
    author_handle: str
    author_name: str
    author_followers: int | None
    text: str
    url: str
    created_at: datetime
    sentiment: str | None
    positive_prob: float | None
    complaint: bool | None
    urgency_level: str | None
    urgency_category: str | None
    matched_query: bool
    model: str | None


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One reply-queue item with the time its post was made and the times it was answered and resolved."""

    item_id: int
    mention_id: int
    status: str
    urgency_level: str
    posted_at: datetime
    first_response_due: datetime
    first_response_at: datetime | None
    resolution_due: datetime
    resolved_at: datetime | None


def load_posts(db: Database, brands: Sequence[str], start: datetime, end: datetime) -> list[PostRecord]:
    """Return the mentions of `brands` made in [start, end), oldest first."""
    if not brands:
        return []
    query = (
        select(MentionRow, ClassificationRow)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(MentionRow.brand.in_(list(brands)), MentionRow.created_at >= start, MentionRow.created_at < end)
        .order_by(MentionRow.created_at, MentionRow.id)
    )
    records = []
    with db.session() as session:
        for mention, scores in session.execute(query).all():
            if (mention.raw or {}).get("from_brand") is True:
                continue  # the brand's own reply is part of a case, not a mention (load_case_posts)
            probs = scores.sentiment_probs if scores is not None else {}
            records.append(
                PostRecord(
                    mention_id=mention.id,
                    brand=mention.brand,
                    network=mention.network,
                    author_handle=mention.author_handle,
                    author_name=mention.author_name,
                    author_followers=mention.author_followers,
                    text=mention.text,
                    url=mention.url,
                    created_at=mention.created_at,
                    sentiment=scores.sentiment if scores is not None else None,
                    positive_prob=float(probs.get("positive", 0.0)) if scores is not None else None,
                    complaint=scores.complaint if scores is not None else None,
                    urgency_level=scores.urgency_level if scores is not None else None,
                    urgency_category=scores.urgency_category if scores is not None else None,
                    matched_query=scores.matched_query if scores is not None else True,
                    model=scores.model if scores is not None else None,
                )
            )
    return records


def load_case_posts(db: Database, brand: str, start: datetime, end: datetime,
                    accounts: Sequence[str] = ()) -> list[Post]:
    """Return the stored posts of `brand` made in [start, end) as case posts: the customers' and the brand's own
    (marked `from_brand` by the source, or written by one of `accounts`)."""
    query = (select(MentionRow)
             .where(MentionRow.brand == brand, MentionRow.created_at >= start, MentionRow.created_at < end)
             .order_by(MentionRow.created_at, MentionRow.id))
    own = {a.lstrip("@").lower() for a in accounts}
    with db.session() as session:
        return [Post(id=m.external_id, author=m.author_handle, at=_as_utc(m.created_at) or m.created_at, text=m.text,
                     parent_id=m.parent_id, from_brand=(m.raw or {}).get("from_brand") is True
                     or m.author_handle.lower() in own)
                for m in session.scalars(query).all()]


def load_queue(db: Database, brand: str, start: datetime, end: datetime) -> list[QueueRecord]:
    """Return queue items of `brand` whose post was made in [start, end).

    The first response is the item's `first_response_at`, or else its earliest posted reply.
    """
    first_reply = (
        select(ReplyRow.queue_item_id, func.min(ReplyRow.posted_at).label("posted_at"))
        .where(ReplyRow.posted_at.is_not(None))
        .group_by(ReplyRow.queue_item_id)
        .subquery()
    )
    query = (
        select(QueueItemRow, MentionRow.created_at, first_reply.c.posted_at)
        .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
        .outerjoin(first_reply, first_reply.c.queue_item_id == QueueItemRow.id)
        .where(QueueItemRow.brand == brand, MentionRow.created_at >= start, MentionRow.created_at < end)
        .order_by(QueueItemRow.id)
    )
    records = []
    with db.session() as session:
        for item, posted_at, replied_at in session.execute(query).all():
            replied = _as_utc(replied_at)
            first = item.first_response_at if item.first_response_at is not None else replied
            records.append(
                QueueRecord(
                    item_id=item.id,
                    mention_id=item.mention_id,
                    status=item.status,
                    urgency_level=item.urgency_level,
                    posted_at=posted_at,
                    first_response_due=item.first_response_due,
                    first_response_at=first,
                    resolution_due=item.resolution_due,
                    resolved_at=item.resolved_at,
                )
            )
    return records


def stored_brands(db: Database, start: datetime, end: datetime) -> list[str]:
    """Return the brands that have mentions in [start, end), busiest first."""
    with db.session() as session:
        rows = session.execute(
            select(MentionRow.brand, func.count(distinct(MentionRow.id)))
            .where(MentionRow.created_at >= start, MentionRow.created_at < end)
            .group_by(MentionRow.brand)
            .order_by(func.count(distinct(MentionRow.id)).desc(), MentionRow.brand)
        ).all()
    return [brand for brand, _ in rows]


def _as_utc(value: datetime | None) -> datetime | None:
    """Make an aggregate's datetime aware: `min()` over a UTCDateTime column loses the type on SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
