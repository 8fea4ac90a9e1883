"""Batched routes (`batch_every_min`): a window's lines go out as one Slack summary per route and channel.

Each line is an outbox row with status "batched", due at its window's end. When it is due, the lines of one
route, channel and window are claimed together in one transaction: "sending", each stamped with the summary's
dedupe key `slack-batch:{rule}:{channel}:{window end}:{part}` (a part holds at most LINES_PER_MESSAGE lines,
so a message stays under Slack's 50 blocks). The summary is sent once and all its lines are marked "sent" in
one transaction. A crash in between leaves them "sending"; `recover_batches` asks Slack for the summary's
dedupe key, as the deliver step does for any message, so a summary is not sent twice.

A click on a line edits its summary (`rearm_line`): the line's row takes its new content, and every line of the
summary goes back to "batched", due now, under a new `summary_rev`; with the lines' result (channel, ts) as
`_previous` the summary is sent as a chat.update of the same message, the other lines rendered as before. A line
re-armed while its summary is on the wire is sent again once that send is marked (its revision differs).
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from alerts.base import DeliveryError
from core.domain import Delivery
from core.outbox import retry_delay_s
from core.storage.schema import OutboxRow, UTCDateTime

if TYPE_CHECKING:
    from monitor.pipeline.deliver import Deliverer

log = logging.getLogger(__name__)

#: A header block, then a section and an actions block per line: 1 + 2 * 24 = 49 of Slack's 50 blocks.
LINES_PER_MESSAGE = 24


def batch_key(rule: str, channel: str, window: datetime, part: int) -> str:
    """Return the dedupe key of one summary message."""
    return f"slack-batch:{rule}:{channel}:{window.isoformat()}:{part}"


def summaries(rows: Iterable[tuple[str, str, datetime]]) -> int:
    """Count the summary messages that lines (rule, channel, window end) make."""
    lines: dict[tuple[str, str, datetime], int] = defaultdict(int)
    for rule, channel, window in rows:
        lines[(rule, channel, window)] += 1
    return sum(-(-count // LINES_PER_MESSAGE) for count in lines.values())


#: A line's bookkeeping, kept out of the summary's items.
_SUMMARY_KEYS = frozenset({"batch_key", "summary_rev"})


def _summary(key: str, rows: Sequence[OutboxRow]) -> Delivery:
    """Return the one message that shows `rows` (claimed lines of one summary)."""
    first = rows[0]
    payload: dict[str, Any] = {
        "type": "batch",
        "rule": str(first.payload.get("rule") or ""),
        "window_end": str(first.payload.get("batch_window") or ""),
        "items": [{k: v for k, v in {**row.payload, "_outbox_id": row.id}.items() if k not in _SUMMARY_KEYS}
                  for row in rows],
        "rev": int(first.payload.get("summary_rev") or 0),
    }
    shown = next((row.result for row in rows if row.result and row.result.get("ts")), None)
    if shown:  # the summary is in Slack already: edit that message (chat.update), never post it again
        payload["_previous"] = {"channel": shown.get("channel"), "ts": shown["ts"]}
    return Delivery(id=first.id, kind=first.kind, channel=first.channel, dedupe_key=key, payload=payload,
                    attempts=max(row.attempts for row in rows))


def _lines(session: Session, key: str) -> list[OutboxRow]:
    rows = session.execute(select(OutboxRow).where(OutboxRow.status == "sending").order_by(OutboxRow.id)).scalars()
    return [row for row in rows if row.payload.get("batch_key") == key]


def _claim(deliverer: Deliverer, now: datetime) -> list[str]:
    """Claim every due window's lines ("sending", stamped with their summary's key); return the keys."""
    kinds = list(deliverer.notifiers)
    keys: list[str] = []
    with deliverer.db.session() as session:
        query = select(OutboxRow).where(OutboxRow.status == "batched", OutboxRow.next_attempt_at <= now,
                                        OutboxRow.kind.in_(kinds)).order_by(OutboxRow.id)
        if deliverer.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        groups: dict[tuple[str, str, datetime], list[OutboxRow]] = defaultdict(list)
        retried: dict[str, list[OutboxRow]] = defaultdict(list)
        for row in session.execute(query).scalars():
            if row.payload.get("batch_key"):  # a summary tried before keeps its key and its lines
                retried[str(row.payload["batch_key"])].append(row)
            else:
                groups[(str(row.payload.get("rule") or ""), row.channel, row.next_attempt_at)].append(row)
        for (rule, channel, window), rows in groups.items():
            for part, start in enumerate(range(0, len(rows), LINES_PER_MESSAGE)):
                key = batch_key(rule, channel, window, part)
                for row in rows[start:start + LINES_PER_MESSAGE]:
                    row.payload = {**row.payload, "batch_key": key, "batch_window": window.isoformat()}
                retried[key] = rows[start:start + LINES_PER_MESSAGE]
        for key, rows in retried.items():
            for row in rows:
                row.status, row.sending_since = "sending", now
                row.attempts += 1
            keys.append(key)
    return keys


def mark_sent(deliverer: Deliverer, key: str, result: dict[str, Any], rev: int = 0) -> None:
    """Mark every line of one summary sent, in one transaction; lines re-armed meanwhile are edited again."""
    now = deliverer.clock()
    shown = {**result, "batch_key": key}
    first_sent = func.coalesce(OutboxRow.sent_at, literal(now, UTCDateTime()))
    with deliverer.db.session() as session:
        ids = [row.id for row in _lines(session, key)]
        if not ids:
            return
        # only lines still holding the revision that was sent are done; one clicked meanwhile is due again now
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids), OutboxRow.status == "sending",
                   func.coalesce(OutboxRow.payload["summary_rev"].as_integer(), 0) == rev)
            .values(status="sent", sent_at=first_sent, sending_since=None,
                    last_error=None, result=shown)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids), OutboxRow.status == "sending")
            .values(status="batched", sent_at=first_sent, sending_since=None,
                    last_error=None, result=shown, next_attempt_at=literal(now, UTCDateTime()), attempts=0)
            .execution_options(synchronize_session=False)
        )


def rearm_line(session: Session, outbox_id: int, payload: dict[str, Any], *, now: datetime) -> None:
    """Give one shown line new content and queue its summary's edit (chat.update of the same message)."""
    row = session.get(OutboxRow, outbox_id)
    key = str((row.result or {}).get("batch_key") or "") if row is not None else ""
    if row is None or not key or row.status == "dead":
        return
    rev = secrets.randbits(31)  # a 32-bit integer in SQL on every backend
    lines = session.execute(
        select(OutboxRow).where(OutboxRow.kind == row.kind, OutboxRow.channel == row.channel,
                                OutboxRow.payload["batch_key"].as_string() == key)
    ).scalars().all()
    for line in lines:
        content = dict(payload) if line.id == row.id else dict(line.payload)
        line.payload = {**content, "batch_key": key, "summary_rev": rev}
        if line.status == "sent":  # "sending" lines are settled by mark_sent, "batched" ones are due anyway
            line.status, line.next_attempt_at, line.attempts, line.last_error = "batched", now, 0, None


def requeue_dead(session: Session, *, kind: str, now: datetime) -> int:
    """Put dead rows of `kind` back in the outbox, a summary's lines as that summary again; return the messages."""
    rows = session.execute(select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.status == "dead")).scalars()
    messages: set[str | int] = set()
    for row in rows:
        key = row.payload.get("batch_key")
        row.status = "batched" if key else "pending"
        row.attempts, row.next_attempt_at = 0, now
        messages.add(str(key) if key else row.id)
    return len(messages)


def _failed(deliverer: Deliverer, key: str, error: DeliveryError) -> None:
    now = deliverer.clock()
    with deliverer.db.session() as session:
        lines = _lines(session, key)
        attempts = max((row.attempts for row in lines), default=1)
        delay = error.retry_after_s if error.retry_after_s is not None else retry_delay_s(attempts)
        for row in lines:
            row.last_error, row.sending_since = str(error), None
            if error.permanent or attempts >= deliverer.max_attempts:
                row.status = "dead"
            else:
                row.status, row.next_attempt_at = "batched", now + timedelta(seconds=delay)
    log.warning("outbox summary %s failed: %s", key, error)


def deliver_batches(deliverer: Deliverer) -> int:
    """Send one summary per due window (and part); return how many went out."""
    sent = 0
    for key in _claim(deliverer, deliverer.clock()):
        with deliverer.db.session() as session:
            lines = _lines(session, key)
            summary = _summary(key, lines) if lines else None
        if summary is None:
            continue
        notifier = deliverer.notifiers[summary.kind]
        try:
            found = notifier.find_sent(summary) if summary.attempts > 1 else None
            if found is None:
                deliverer.pace(summary.channel)
                found = notifier.send(summary)
        except DeliveryError as exc:
            _failed(deliverer, key, exc)
            continue
        mark_sent(deliverer, key, found, int(summary.payload.get("rev") or 0))
        sent += 1
    return sent


def recover_batches(deliverer: Deliverer, cutoff: datetime) -> int:
    """Settle summaries a dead process left "sending": sent if Slack has them, else due again now."""
    now = deliverer.clock()
    with deliverer.db.session() as session:
        rows = session.execute(
            select(OutboxRow).where(OutboxRow.status == "sending", OutboxRow.sending_since <= cutoff)
        ).scalars().all()
        keys = sorted({str(row.payload["batch_key"]) for row in rows if row.payload.get("batch_key")})
    settled = 0
    for key in keys:
        with deliverer.db.session() as session:
            lines = _lines(session, key)
            if not lines or lines[0].kind not in deliverer.notifiers:
                continue
            summary = _summary(key, lines)
            try:
                found = deliverer.notifiers[lines[0].kind].find_sent(summary)
            except DeliveryError as exc:
                log.warning("outbox summary %s: cannot tell whether it was sent yet: %s", key, exc)
                continue
        if found is not None:
            mark_sent(deliverer, key, found, int(summary.payload.get("rev") or 0))
        else:
            with deliverer.db.session() as session:
                for row in _lines(session, key):
                    row.status, row.next_attempt_at, row.sending_since = "batched", now, None
        settled += 1
    return settled
