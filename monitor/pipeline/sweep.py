"""Sweeps: posts deleted on their network are purged; cases quiet after the brand's last word resolve.

Deletion: posts deleted or removed on their network are purged from storage, as Reddit's terms require.

A source that can tell which of its stored posts are gone (`deleted_among`) is asked about a batch of them per
run, least recently checked first, so every stored post is re-checked in turn. A purged post takes its
classification, routing, alerts, queue item and replies with it (foreign keys cascade), and the copies of its
text in outbox payloads are scrubbed; an alert not yet sent is dropped. The post leaves its case too; a case
left without a customer post goes.

Silence: a case whose last word is the brand's resolves after `cases.auto_resolve_h` hours without a customer
post (`resolve_quiet_cases`, run after each routing pass), and its queue item with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import delete, select, update

from core.settings.cases import CaseSettings
from core.storage import Database, insert_ignore
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import AlertRow, MentionRow, OutboxRow, QueueItemRow, ReplyRow
from core.storage.sources_tables import MentionCheckRow
from monitor.queue.cases_store import refold
from monitor.queue.cases_sync import close_item, refresh_message
from sources.base import SourceError

log = logging.getLogger(__name__)

PURGED_TEXT = "[deleted on the network; purged by brandmon]"
DEFAULT_SWEEP_BATCH = 500
#: Quiet cases resolved per run at most; the rest wait for the next run.
QUIET_BATCH = 500


@runtime_checkable
class DeletionChecker(Protocol):
    """A source that can say which of its posts no longer exist on the network."""

    name: str
    network: str

    def deleted_among(self, external_ids: Sequence[str]) -> set[str]:
        """Return the external ids among `external_ids` that are deleted, removed or gone."""


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    """What one sweep run of one source did."""

    source: str
    checked: int = 0
    purged: int = 0
    error: str | None = None


def _scrub_payload(payload: dict[str, Any]) -> dict[str, Any]:
    scrubbed = dict(payload)
    for key in ("text", "author_handle", "author_name", "url", "explanation"):
        if key in scrubbed:
            scrubbed[key] = PURGED_TEXT if key == "text" else None
    scrubbed["purged"] = True
    return scrubbed


def purge_mentions(session: Any, mention_ids: Sequence[int], *, now: datetime) -> int:
    """Delete mentions and everything derived from them; scrub their text out of the outbox."""
    if not mention_ids:
        return 0
    outbox_ids = set(session.execute(select(AlertRow.outbox_id).where(AlertRow.mention_id.in_(mention_ids))).scalars())
    outbox_ids |= set(session.execute(select(ReplyRow.outbox_id).where(ReplyRow.mention_id.in_(mention_ids))).scalars())
    outbox_ids.discard(None)
    for row in session.execute(select(OutboxRow).where(OutboxRow.id.in_(outbox_ids))).scalars():
        row.payload = _scrub_payload(row.payload)
        if row.status == "pending":
            row.status = "dead"
            row.last_error = f"post deleted on its network; purged at {now.isoformat()}"
    _leave_cases(session, mention_ids, now=now)
    result = session.execute(delete(MentionRow).where(MentionRow.id.in_(mention_ids)))
    return int(result.rowcount or 0)


def _leave_cases(session: Any, mention_ids: Sequence[int], *, now: datetime) -> None:
    """Take purged posts out of their cases; a case with no customer post left is deleted."""
    case_ids = set(session.execute(select(CasePostRow.case_id).where(CasePostRow.mention_id.in_(mention_ids)))
                   .scalars())
    if not case_ids:
        return
    session.execute(delete(CasePostRow).where(CasePostRow.mention_id.in_(mention_ids)))
    for case in session.execute(select(CaseRow).where(CaseRow.id.in_(case_ids))).scalars():
        if refold(session, case, now=now, auto_resolve_h=None) is None:
            session.delete(case)


def resolve_quiet_cases(db: Database, cases: CaseSettings, *, now: datetime) -> int:
    """Resolve cases whose last word is the brand's and that have been quiet `cases.auto_resolve_h` hours."""
    cutoff = now - timedelta(hours=cases.auto_resolve_h)
    resolved = 0
    with db.session() as session:
        query = (select(CaseRow).where(CaseRow.status == "replied", CaseRow.last_brand_at <= cutoff)
                 .order_by(CaseRow.last_brand_at).limit(QUIET_BATCH))
        if db.dialect == "postgresql":  # parallel routers: each case is resolved by one of them
            query = query.with_for_update(skip_locked=True)
        quiet = session.execute(query).scalars().all()
        for case in quiet:
            state = refold(session, case, now=now, auto_resolve_h=cases.auto_resolve_h)
            if state is None or state.status != "resolved":
                continue
            item = session.get(QueueItemRow, case.queue_item_id) if case.queue_item_id else None
            if item is not None:
                close_item(session, item, why="silence", now=now, mention_id=None)
            refresh_message(session, case, now=now)
            resolved += 1
    return resolved


def sweep_deleted(db: Database, source: DeletionChecker, *, now: datetime, batch: int | None = None) -> SweepOutcome:
    """Check the least recently checked stored posts of `source` and purge those gone from the network."""
    size = batch or int(getattr(source, "sweep_batch", DEFAULT_SWEEP_BATCH))
    with db.session() as session:
        rows = session.execute(
            select(MentionRow.id, MentionRow.external_id)
            .outerjoin(MentionCheckRow, MentionCheckRow.mention_id == MentionRow.id)
            .where(MentionRow.network == source.network, MentionRow.source_name == source.name)
            .order_by(MentionCheckRow.checked_at.is_not(None), MentionCheckRow.checked_at, MentionRow.id)
            .limit(size)
        ).all()
    if not rows:
        return SweepOutcome(source.name)
    try:
        gone = source.deleted_among([external_id for _, external_id in rows])
    except SourceError as exc:
        log.warning("source %s: deletion sweep failed, trying again next run: %s", source.name, exc)
        return SweepOutcome(source.name, error=str(exc))
    purge_ids = [mention_id for mention_id, external_id in rows if external_id in gone]
    kept_ids = [mention_id for mention_id, external_id in rows if external_id not in gone]
    with db.session() as session:
        purged = purge_mentions(session, purge_ids, now=now)
        if kept_ids:
            session.execute(update(MentionCheckRow).where(MentionCheckRow.mention_id.in_(kept_ids))
                            .values(checked_at=now))
            insert_ignore(session, MentionCheckRow, [{"mention_id": i, "checked_at": now} for i in kept_ids],
                          conflict=("mention_id",))
    if purged:
        log.info("source %s: purged %d posts deleted on %s", source.name, purged, source.network)
    return SweepOutcome(source.name, checked=len(rows), purged=purged)


__all__ = ["PURGED_TEXT", "DeletionChecker", "SweepOutcome", "purge_mentions", "resolve_quiet_cases",
           "sweep_deleted"]
