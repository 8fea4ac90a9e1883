"""Read the stored rows a digest is computed from: mentions with their scores, queue items and cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import distinct, func, select

from core.storage import Database
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, ReplyRow
from monitor.queue.cases import CaseRecord
from monitor.queue.cases_store import posts_of_cases


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
    #: The stored `classifications.language`; None while unclassified or when no language was told.
    language: str | None = None
    #: The stored `classifications.category`: a brand's own category ("other" in `urgency_category`); None when
    #: it is the same as `urgency_category`.
    category: str | None = None

    @property
    def shown_category(self) -> str | None:
        """Return the category the digest counts the post under: a brand's own by its name, else the built-in."""
        return self.category or self.urgency_category


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
                    language=scores.language if scores is not None else None,
                    category=scores.category if scores is not None else None,
                )
            )
    return records


def load_cases(db: Database, brand: str, start: datetime, end: datetime) -> list[CaseRecord]:
    """Return the stored cases of `brand` opened in [start, end), oldest first, each with its posts."""
    query = (select(CaseRow, QueueItemRow.kind)
             .outerjoin(QueueItemRow, QueueItemRow.id == CaseRow.queue_item_id)
             .where(CaseRow.brand == brand, CaseRow.opened_at >= start, CaseRow.opened_at < end)
             .order_by(CaseRow.opened_at, CaseRow.id))
    with db.session() as session:
        rows = session.execute(query).all()
        posts = posts_of_cases(session, [case.id for case, _ in rows])
    return [CaseRecord(id=case.id, customer=case.customer_handle, opened_at=case.opened_at, status=case.status,
                       first_response_at=case.first_response_at, resolved_at=case.resolved_at,
                       resolved_by=case.resolved_by, posts=tuple(posts[case.id]), kind=kind,
                       needs_response_at=case.needs_response_at, first_response_due=case.first_response_due)
            for case, kind in rows if posts[case.id]]


def case_of_mentions(db: Database, mention_ids: Sequence[int]) -> dict[int, int]:
    """Return mention id -> case id for the stored posts among `mention_ids` that are in a case."""
    found: dict[int, int] = {}
    ordered = sorted(set(mention_ids))
    with db.session() as session:
        for start in range(0, len(ordered), 500):
            rows = session.execute(select(CasePostRow.mention_id, CasePostRow.case_id)
                                   .where(CasePostRow.mention_id.in_(ordered[start:start + 500]))).all()
            found.update((int(mention_id), int(case_id)) for mention_id, case_id in rows if mention_id is not None)
    return found


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
