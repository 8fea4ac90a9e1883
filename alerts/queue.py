"""The reply queue: items ordered by urgency and SLA deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select

from monitor.storage import Database
from monitor.storage.schema import ClassificationRow, MentionRow, QueueItemRow

LEVEL_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
OPEN_STATUSES = ("new", "claimed", "snoozed")


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One queue item with the post and scores a responder needs to pick it."""

    item: QueueItemRow
    mention: MentionRow
    scores: ClassificationRow


def list_queue(
    db: Database, *, brand: str | None = None, statuses: tuple[str, ...] = OPEN_STATUSES, limit: int = 100
) -> list[QueueEntry]:
    """Return queue items, most urgent level first, then earliest first-response deadline."""
    rank = case(LEVEL_RANK, value=QueueItemRow.urgency_level, else_=len(LEVEL_RANK))
    query = (
        select(QueueItemRow, MentionRow, ClassificationRow)
        .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(QueueItemRow.status.in_(statuses))
        .order_by(rank, QueueItemRow.first_response_due, QueueItemRow.id)
        .limit(limit)
    )
    if brand is not None:
        query = query.where(QueueItemRow.brand == brand)
    with db.session() as session:
        return [QueueEntry(item, mention, scores) for item, mention, scores in session.execute(query).all()]


def minutes_left(due: datetime, now: datetime) -> int:
    """Return whole minutes until `due` (negative once breached)."""
    return int((due - now).total_seconds() // 60)


def format_due(minutes: int) -> str:
    """Say how long until a deadline, or how late it is, in the largest sensible units."""
    span = abs(minutes)
    if span < 60:
        text = f"{span}m"
    elif span < 48 * 60:
        text = f"{span // 60}h{span % 60:02d}m"
    else:
        text = f"{span // 1440}d{(span % 1440) // 60}h"
    return text if minutes >= 0 else f"LATE {text}"
