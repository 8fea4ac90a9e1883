"""The reply queue: one item per case, ordered by urgency and SLA deadline, and the actions on them.

Every action (claim, status change, and reclassification in `monitor.queue.reclassify`) writes one
`audit_log` row in the same transaction as the change it records. Claims are atomic: on PostgreSQL the row is
taken with `SELECT ... FOR UPDATE SKIP LOCKED`; on SQLite one conditional `UPDATE` decides (SQLite runs one
writer at a time, and the second writer re-reads the row after the first commits, so it sees the claim and
matches nothing). Other status changes use the item's `version` column as an optimistic lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from core.domain import QueueStatus
from core.storage import Database
from core.storage.language_tables import in_language
from core.storage.schema import AuditRow, ClassificationRow, MentionRow, QueueItemRow, utcnow
from monitor.queue.cases_sync import note_item_status

log = logging.getLogger(__name__)

LEVEL_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
OPEN_STATUSES = ("new", "claimed", "snoozed")
#: Statuses a claim cannot start from: the item must be reopened first.
CLOSED_STATUSES = ("resolved", "not_relevant")
DEFAULT_LEASE_MIN = 30
_ACTION_FOR_STATUS = {
    "new": "reopened",
    "replied": "marked_replied",
    "resolved": "resolved",
    "not_relevant": "marked_not_relevant",
    "snoozed": "snoozed",
}
_OPTIMISTIC_TRIES = 5


class QueueError(Exception):
    """A queue action that cannot be done; the message says why in words a responder understands."""


class ItemNotFound(QueueError):
    """No queue item (or post) has that id."""


class QueueConflict(QueueError):
    """Someone else holds the item, or it changed under the caller."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One queue item with the post and scores a responder needs to pick it."""

    item: QueueItemRow
    mention: MentionRow
    scores: ClassificationRow


def _now(now: datetime | None) -> datetime:
    value = now or utcnow()
    if value.tzinfo is None:
        raise ValueError("queue actions need an aware UTC time")
    return value


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    item_id: int | None = None,
    mention_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one row to the audit log in the caller's transaction."""
    session.add(AuditRow(at=at, actor=actor, action=action, queue_item_id=item_id, mention_id=mention_id,
                         detail=detail or {}))


def list_queue(
    db: Database, *, brand: str | None = None, statuses: tuple[str, ...] = OPEN_STATUSES, limit: int = 100,
    claimed_by: str | None = None, language: str | None = None,
) -> list[QueueEntry]:
    """Return queue items, most urgent level first, then earliest first-response deadline (`language`: its posts)."""
    rank = case(LEVEL_RANK, value=QueueItemRow.urgency_level, else_=len(LEVEL_RANK))
    query = (
        select(QueueItemRow, MentionRow, ClassificationRow)
        .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(QueueItemRow.status.in_(statuses), *in_language(language))
        .order_by(rank, QueueItemRow.first_response_due, QueueItemRow.id)
        .limit(limit)
    )
    if brand is not None:
        query = query.where(QueueItemRow.brand == brand)
    if claimed_by is not None:
        query = query.where(QueueItemRow.claimed_by == claimed_by)
    with db.session() as session:
        return [QueueEntry(item, mention, scores) for item, mention, scores in session.execute(query).all()]


def count_queue(db: Database, *, brand: str | None = None, statuses: tuple[str, ...] = OPEN_STATUSES,
                claimed_by: str | None = None, language: str | None = None) -> int:
    """Return how many items `list_queue` would return with no limit."""
    query = select(func.count()).select_from(QueueItemRow).where(QueueItemRow.status.in_(statuses),
                                                                 *in_language(language))
    if brand is not None:
        query = query.where(QueueItemRow.brand == brand)
    if claimed_by is not None:
        query = query.where(QueueItemRow.claimed_by == claimed_by)
    with db.session() as session:
        return int(session.scalar(query) or 0)


def get_entry(db: Database, item_id: int) -> QueueEntry:
    """Return one queue item with its post and scores."""
    with db.session() as session:
        row = session.execute(
            select(QueueItemRow, MentionRow, ClassificationRow)
            .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
            .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(QueueItemRow.id == item_id)
        ).first()
    if row is None:
        raise ItemNotFound(f"no queue item {item_id}")
    return QueueEntry(*row)


def item_url(public_url: str | None, item_id: int) -> str | None:
    """Return the web page of a queue item (for links in Slack alerts), or None when `web.public_url` is unset."""
    if not public_url or not public_url.startswith(("https://", "http://")):
        return None
    return f"{public_url.rstrip('/')}/items/{int(item_id)}"


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


# -- claiming -----------------------------------------------------------------------------------------------

def lease_holder(item: QueueItemRow, now: datetime) -> str | None:
    """Return who holds a live lease on the item, if anyone (only they may change it)."""
    if item.status in ("claimed", "replied") and item.claimed_by and item.lease_until and item.lease_until > now:
        return item.claimed_by
    return None


def claim_refusal(item: QueueItemRow, actor: str, now: datetime) -> str | None:
    """Say why `actor` cannot claim `item` now, or None when they can."""
    if item.status in CLOSED_STATUSES:
        return f"item {item.id} is {item.status.replace('_', ' ')}; reopen it before claiming"
    holder = lease_holder(item, now)
    if holder is not None and holder != actor:
        assert item.lease_until is not None
        return f"item {item.id} is claimed by {holder} until {item.lease_until:%Y-%m-%d %H:%M} UTC"
    return None


def _claimable(actor: str, now: datetime) -> Any:
    """SQL condition that mirrors `claim_refusal` returning None."""
    return or_(
        QueueItemRow.status.in_(("new", "snoozed")),
        and_(
            QueueItemRow.status.in_(("claimed", "replied")),
            or_(QueueItemRow.claimed_by.is_(None), QueueItemRow.claimed_by == actor,
                QueueItemRow.lease_until.is_(None), QueueItemRow.lease_until <= now),
        ),
    )


def claim(
    db: Database, item_id: int, actor: str, *, now: datetime | None = None, lease_min: int | None = None
) -> QueueItemRow:
    """Claim an item for `actor` with a lease that expires; raise `QueueConflict` if someone else holds it."""
    now = _now(now)
    lease_until = now + timedelta(minutes=lease_min or DEFAULT_LEASE_MIN)
    with db.session() as session:
        if db.dialect == "postgresql":
            item = session.execute(
                select(QueueItemRow).where(QueueItemRow.id == item_id).with_for_update(skip_locked=True)
            ).scalar()
            if item is None:
                if session.execute(select(QueueItemRow.id).where(QueueItemRow.id == item_id)).scalar() is None:
                    raise ItemNotFound(f"no queue item {item_id}")
                raise QueueConflict(f"item {item_id} is being claimed by someone else right now")
            refusal = claim_refusal(item, actor, now)
            if refusal:
                raise QueueConflict(refusal)
            before = (item.status, item.claimed_by)
            item.status, item.claimed_by, item.claimed_at = "claimed", actor, now
            item.lease_until, item.snoozed_until, item.updated_at = lease_until, None, now
            item.version += 1
        else:
            # read only to label the audit row (claim or renewal); the conditional UPDATE alone decides who wins
            seen = session.execute(
                select(QueueItemRow.status, QueueItemRow.claimed_by).where(QueueItemRow.id == item_id)).first()
            result = session.execute(
                update(QueueItemRow)
                .where(QueueItemRow.id == item_id, _claimable(actor, now))
                .values(status="claimed", claimed_by=actor, claimed_at=now, lease_until=lease_until,
                        snoozed_until=None, updated_at=now, version=QueueItemRow.version + 1)
                .returning(QueueItemRow.version)
                .execution_options(synchronize_session=False)
            ).first()
            found = session.get(QueueItemRow, item_id, populate_existing=True)
            if found is None:
                raise ItemNotFound(f"no queue item {item_id}")
            if result is None:
                raise QueueConflict(claim_refusal(found, actor, now) or f"item {item_id} changed; try again")
            item, before = found, (seen[0], seen[1]) if seen else ("", None)
        renewed = before[1] == actor and before[0] == "claimed"
        audit(session, actor=actor, action="claim_renewed" if renewed else "claimed", at=now, item_id=item.id,
              mention_id=item.mention_id, detail={"lease_until": lease_until.isoformat()})
        log.info("queue item %d claimed by %s until %s", item.id, actor, lease_until.isoformat())
        return item


# -- status changes -----------------------------------------------------------------------------------------

def _changes_for(item: QueueItemRow, status: str, now: datetime, snooze_until: datetime | None) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status, "updated_at": now, "snoozed_until": None}
    if status == "new":
        changes.update(claimed_by=None, claimed_at=None, lease_until=None, resolved_at=None)
    elif status == "replied":
        changes["first_response_at"] = item.first_response_at or now
    elif status in ("resolved", "not_relevant"):
        changes.update(lease_until=None, resolved_at=now)
    elif status == "snoozed":
        changes.update(snoozed_until=snooze_until, claimed_by=None, claimed_at=None, lease_until=None)
    return changes


def set_status(
    db: Database,
    item_id: int,
    status: str,
    actor: str,
    *,
    now: datetime | None = None,
    snooze_until: datetime | None = None,
    force: bool = False,
) -> QueueItemRow:
    """Move an item to `status` (`claimed` goes through `claim`); refuse while someone else holds its lease."""
    now = _now(now)
    try:
        target = QueueStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in QueueStatus)
        raise QueueError(f"unknown status {status!r}; known: {known}") from None
    if target is QueueStatus.CLAIMED:
        return claim(db, item_id, actor, now=now)
    if target is QueueStatus.SNOOZED and (snooze_until is None or snooze_until.tzinfo is None
                                          or snooze_until <= now):
        raise QueueError("snoozing needs a time in the future (UTC-aware)")
    for _ in range(_OPTIMISTIC_TRIES):
        with db.session() as session:
            item = session.get(QueueItemRow, item_id)
            if item is None:
                raise ItemNotFound(f"no queue item {item_id}")
            holder = lease_holder(item, now)
            if holder is not None and holder != actor and not force:
                raise QueueConflict(f"item {item_id} is claimed by {holder}; only they can change it now")
            if item.status == target.value and target is not QueueStatus.SNOOZED:
                return item
            changes = _changes_for(item, target.value, now, snooze_until)
            result = session.execute(
                update(QueueItemRow)
                .where(QueueItemRow.id == item_id, QueueItemRow.version == item.version)
                .values(**changes, version=item.version + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                continue
            detail: dict[str, Any] = {"from": item.status, "to": target.value}
            if snooze_until is not None and target is QueueStatus.SNOOZED:
                detail["until"] = snooze_until.isoformat()
            if force and holder not in (None, actor):
                detail["overrode_claim_of"] = holder
            audit(session, actor=actor, action=_ACTION_FOR_STATUS[target.value], at=now, item_id=item_id,
                  mention_id=item.mention_id, detail=detail)
            note_item_status(session, item_id, target.value, now=now)  # resolving the item resolves its case
            session.flush()
            return session.get(QueueItemRow, item_id, populate_existing=True)  # type: ignore[return-value]
    raise QueueConflict(f"item {item_id} kept changing while it was being updated; try again")


def wake_snoozed(db: Database, *, now: datetime | None = None) -> int:
    """Put items whose snooze has run out back to "new"; return how many woke."""
    now = _now(now)
    with db.session() as session:
        due = session.execute(
            select(QueueItemRow.id).where(QueueItemRow.status == "snoozed", QueueItemRow.snoozed_until <= now)
        ).scalars().all()
    woke = 0
    for item_id in due:
        try:
            set_status(db, item_id, "new", "brandmon", now=now)
            woke += 1
        except QueueConflict:  # claimed meanwhile: nothing to wake
            continue
    return woke


def audit_trail(db: Database, *, item_id: int | None = None, limit: int = 200) -> list[AuditRow]:
    """Return audit rows, newest first, for one item or for everything."""
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if item_id is not None:
        with db.session() as session:
            mention_id = session.execute(
                select(QueueItemRow.mention_id).where(QueueItemRow.id == item_id)).scalar()
        query = query.where(or_(AuditRow.queue_item_id == item_id, AuditRow.mention_id == mention_id))
    with db.session() as session:
        return list(session.execute(query).scalars().all())
