"""The outbox: every outbound message (a Slack post, a public reply) is one row, written here and nowhere else.

`enqueue` adds a row (once per dedupe key); `rearm` gives a sent row new content so its message is edited
rather than posted again. The deliver step (monitor/pipeline/deliver.py) sends what is due.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.orm import Session

from core.storage import insert_ignore
from core.storage.schema import OutboxRow, UTCDateTime

RETRY_BASE_S = 2.0
RETRY_CAP_S = 600.0


def retry_delay_s(attempts: int) -> float:
    """Return the jittered exponential backoff after `attempts` failed attempts."""
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** min(attempts - 1, 12)) * random.uniform(0.8, 1.2)


def enqueue(
    session: Session,
    *,
    kind: str,
    channel: str,
    dedupe_key: str,
    payload: Mapping[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    status: str = "pending",
) -> tuple[int, bool]:
    """Add one outbound message, due at `not_before` (default now); return (row id, whether it is new).

    A dedupe key that was queued before adds nothing and returns the earlier row. Status "batched" makes the
    row one line of its route's summary at `not_before` (monitor/pipeline/batches.py) instead of a message.
    """
    row = {
        "kind": kind,
        "channel": channel,
        "dedupe_key": dedupe_key,
        "payload": dict(payload),
        "status": status,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }
    inserted = insert_ignore(session, OutboxRow, [row], conflict=("dedupe_key",), returning=("id",))
    if inserted:
        return int(inserted[0][0]), True
    existing = session.execute(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)).scalar_one()
    return int(existing), False


def rearm(session: Session, outbox_id: int, payload: Mapping[str, Any], *, now: datetime) -> None:
    """Replace a row's content; a sent row becomes pending again so its message is edited, not reposted."""
    result = session.execute(select(OutboxRow.result).where(OutboxRow.id == outbox_id)).scalar()
    if (result or {}).get("batch_key"):
        return  # a line already shown in a window's summary: editing its row would replace the whole summary
    content = {**payload, "rev": secrets.randbits(31)}  # a 32-bit integer in SQL on every backend
    was_sent = OutboxRow.status == "sent"
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.status != "dead")
        .values(
            payload=content,
            status=case((was_sent, "pending"), else_=OutboxRow.status),
            next_attempt_at=case((was_sent, literal(now, UTCDateTime())), else_=OutboxRow.next_attempt_at),
            attempts=case((was_sent, 0), else_=OutboxRow.attempts),
            last_error=case((was_sent, None), else_=OutboxRow.last_error),
        )
        .execution_options(synchronize_session=False)
    )


def window_end(at: datetime, minutes: int) -> datetime:
    """Return the end of the `minutes`-long window (aligned on the Unix epoch, UTC) that `at` falls in."""
    size_s = minutes * 60
    start_s = int(at.timestamp()) // size_s * size_s
    return datetime.fromtimestamp(start_s, UTC) + timedelta(seconds=size_s)
