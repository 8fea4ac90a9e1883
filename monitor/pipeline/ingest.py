"""Poll and ingest: one source's batch and its new cursor are stored in one transaction."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from core.domain import Batch, Mention
from core.storage import Database, insert_ignore
from core.storage.quarantine_tables import QUARANTINED, REJECTED, add_rejects
from core.storage.schema import MentionRow, SourceStateRow
from sources.base import FatalSourceError, RateLimited, RetriableError, Source, SourceError

log = logging.getLogger(__name__)

#: Backoff after consecutive retriable failures: base * 2**n seconds, capped, with jitter.
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 900.0


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll of one source did."""

    source: str
    fetched: int = 0
    stored: int = 0
    skipped_reason: str | None = None
    error: str | None = None
    exhausted: bool = False
    #: Records read but refused by the source's checks (quarantined ones are counted in `source_rejects`).
    rejected: int = 0


def mention_row(mention: Mention, *, brand: str, source_name: str, now: datetime) -> dict[str, Any]:
    """Turn a `Mention` into the column values of its `mentions` row."""
    return {
        "network": mention.network,
        "external_id": mention.external_id,
        "brand": brand,
        "source_name": source_name,
        "author_handle": mention.author_handle,
        "author_name": mention.author_name,
        "author_followers": mention.author_followers,
        "author_verified": mention.author_verified,
        "text": mention.text,
        "language": mention.language,
        "url": mention.url,
        "created_at": mention.created_at,
        "ingested_at": now,
        "conversation_id": mention.conversation_id,
        "parent_id": mention.parent_id,
        "reply_path": str(mention.reply_path),
        "reply_path_reason": mention.reply_path_reason,
        "addressed": mention.addressed,
        "raw": _jsonable(mention.raw),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        # PostgreSQL refuses NUL in text and lone surrogates cannot be encoded; keep the rest verbatim.
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return value


def clean_text(value: str) -> str:
    """Make post text storable everywhere: no NUL, no lone surrogates."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _state(session: Any, source_name: str) -> SourceStateRow:
    state = session.get(SourceStateRow, source_name)
    if state is None:
        state = SourceStateRow(source_name=source_name, consecutive_failures=0, exhausted=False)
        session.add(state)
        session.flush()
    return state


#: Errors that belong to one record's values (too long, out of range); any other database error fails the batch.
RECORD_ERRORS = (DataError, IntegrityError, OverflowError)


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).splitlines() or [type(orig).__name__])[0]


def _advance(session: Any, source: Source, batch: Batch, now: datetime) -> None:
    state = _state(session, source.name)
    state.cursor = batch.cursor
    state.last_success_at = now
    state.last_error = None
    state.consecutive_failures = 0
    state.exhausted = batch.exhausted


def _rejects(batch: Batch) -> list[dict[str, Any]]:
    return [{"kind": REJECTED, "location": r.location, "reason": r.reason,
             "raw": _jsonable(r.raw) if r.raw is not None else None, "cursor": batch.cursor} for r in batch.rejected]


def store_batch(db: Database, source: Source, batch: Batch, *, now: datetime) -> int:
    """Store a batch, its rejected records and the source's new cursor atomically; return how many rows were new.

    When the database refuses the batch for one record's values, each record is stored on its own and the ones
    it still refuses are quarantined (`source_rejects`, with the raw payload), so the cursor always moves on.
    """
    rows = []
    for mention in batch.mentions:
        row = mention_row(mention, brand=source.brand, source_name=source.name, now=now)
        # every string column, not only the text: a hostile handle also reaches the URL and the ids
        rows.append({key: clean_text(value) if isinstance(value, str) else value for key, value in row.items()})
    try:
        with db.session() as session:
            inserted = insert_ignore(session, MentionRow, rows, conflict=("network", "external_id"), returning=("id",))
            add_rejects(session, source.name, _rejects(batch), now=now)
            _advance(session, source, batch, now)
        return len(inserted)
    except RECORD_ERRORS as exc:
        log.warning("source %s: the database refused the batch (%s); storing its records one by one",
                    source.name, _reason(exc))
    return _store_one_by_one(db, source, batch, rows, now=now)


def _store_one_by_one(db: Database, source: Source, batch: Batch, rows: list[dict[str, Any]], *,
                      now: datetime) -> int:
    new = 0
    quarantine: list[dict[str, Any]] = []
    with db.session() as session:
        for row in rows:
            try:
                with session.begin_nested():
                    new += len(insert_ignore(session, MentionRow, [row], conflict=("network", "external_id"),
                                             returning=("id",)))
            except RECORD_ERRORS as exc:
                reason = _reason(exc)
                log.error("source %s: %s/%s quarantined: %s", source.name, row.get("network"),
                          row.get("external_id"), reason)
                quarantine.append({"kind": QUARANTINED, "location": f"{row.get('network')}:{row.get('external_id')}",
                                   "reason": reason, "raw": row.get("raw"), "cursor": batch.cursor})
        add_rejects(session, source.name, _rejects(batch) + quarantine, now=now)
        _advance(session, source, batch, now)
    return new


def poll_source(db: Database, source: Source, *, now: datetime) -> PollOutcome:
    """Poll one source unless it is rate limited or disabled; record every failure on its state row."""
    with db.session() as session:
        state = _state(session, source.name)
        cursor = state.cursor
        if state.fatal_error:
            return PollOutcome(source.name, skipped_reason=f"disabled: {state.fatal_error}")
        if state.disabled_until is not None and state.disabled_until > now:
            return PollOutcome(source.name, skipped_reason=f"waiting until {state.disabled_until.isoformat()}")
    try:
        batch = source.poll(cursor)
    except RateLimited as exc:
        _record_failure(db, source.name, now=now, error=str(exc), until=exc.retry_at)
        log.warning("source %s rate limited until %s", source.name, exc.retry_at.isoformat())
        return PollOutcome(source.name, error=str(exc))
    except FatalSourceError as exc:
        _record_failure(db, source.name, now=now, error=str(exc), fatal=True)
        log.error("source %s disabled: %s", source.name, exc)
        return PollOutcome(source.name, error=str(exc))
    except (RetriableError, SourceError) as exc:
        until = _record_failure(db, source.name, now=now, error=str(exc), backoff=True)
        log.warning("source %s failed, retrying after %s: %s", source.name, until, exc)
        return PollOutcome(source.name, error=str(exc))
    stored = store_batch(db, source, batch, now=now)
    if batch.mentions:
        log.info("source %s: %d fetched, %d new", source.name, len(batch.mentions), stored)
    if batch.rejected:
        log.warning("source %s: %d records rejected (brandmon sources --rejects %s shows them)", source.name,
                    len(batch.rejected), source.name)
    return PollOutcome(source.name, fetched=len(batch.mentions), stored=stored, exhausted=batch.exhausted,
                       rejected=len(batch.rejected))


def _record_failure(
    db: Database,
    source_name: str,
    *,
    now: datetime,
    error: str,
    until: datetime | None = None,
    fatal: bool = False,
    backoff: bool = False,
) -> datetime | None:
    with db.session() as session:
        state = _state(session, source_name)
        state.last_error = error
        state.last_error_at = now
        state.consecutive_failures = (state.consecutive_failures or 0) + 1
        if fatal:
            state.fatal_error = error
        if backoff:
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(state.consecutive_failures - 1, 10))
            until = now + timedelta(seconds=delay * random.uniform(0.8, 1.2))
        if until is not None:
            state.disabled_until = until
        return until


def enable_source(db: Database, source_name: str) -> None:
    """Clear a source's fatal error and wait so it is polled again."""
    with db.session() as session:
        state = session.execute(select(SourceStateRow).where(SourceStateRow.source_name == source_name)).scalar()
        if state is not None:
            state.fatal_error = None
            state.disabled_until = None
            state.consecutive_failures = 0
