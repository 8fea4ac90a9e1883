"""Deliver: send due outbox rows through their notifier; failures stay queued with error and next attempt.

A row is marked "sending" (committed) before the network call and "sent" after it. A crash in between leaves
it "sending"; the next run asks the notifier whether it arrived (`find_sent`) before trying again, so a
message is not sent twice.

An outbox row is one message on the far side. Two extensions keep that true for Slack incidents:

- A row may follow another (`payload["after"]`, a thread reply under its incident's message): it waits until
  that row has a result and is handed the result as `payload["_parent"]`; if the parent is dead it goes alone.
- A sent row may be re-armed with new content (`rearm`, an incident that grew or a button that was pressed):
  it becomes pending again and its notifier gets the first send's result as `payload["_previous"]`, so it
  edits the message (chat.update) instead of posting another. Each re-arm stamps a new `payload["rev"]`; a
  send only marks the row "sent" when the row still holds the revision that was sent.

A batched route's rows are lines of one summary per window instead (monitor/pipeline/batches.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import case, false, func, literal, or_, select, update
from sqlalchemy.orm import Session

from alerts.base import DeliveryError, Notifier
from core.domain import Delivery
from core.outbox import retry_delay_s
from core.storage import Database
from core.storage.schema import OutboxRow, UTCDateTime
from monitor.pipeline.batches import deliver_batches, recover_batches

log = logging.getLogger(__name__)

#: A row left "sending" this long belongs to a process that died mid-send.
IN_DOUBT_AFTER_S = 30.0
#: After this many failures in a row (not rate limits) the far side is taken to be down until the next tick.
CIRCUIT_FAILURES = 3
#: A row waiting for the message it follows looks again this much later.
FOLLOW_WAIT_S = 1.0


class Outcome(Enum):
    """What happened to one due row."""

    SENT = "sent"
    FAILED = "failed"
    RATE_LIMITED = "rate_limited"
    WAITING = "waiting"
    SKIPPED = "skipped"


def _revision(payload: Mapping[str, Any]) -> int:
    return int(payload.get("rev") or 0)


def _delivery(row: OutboxRow, payload: Mapping[str, Any] | None = None) -> Delivery:
    return Delivery(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        dedupe_key=row.dedupe_key,
        payload=dict(row.payload if payload is None else payload),
        attempts=row.attempts,
    )


def _resolve(session: Session, row: OutboxRow, now: datetime) -> tuple[dict[str, Any] | None, datetime | None]:
    """Return (payload with what it follows and what it replaces, None) or (None, when to look again)."""
    payload = dict(row.payload)
    parent_id = payload.get("after")
    if parent_id:
        parent = session.get(OutboxRow, int(parent_id))
        if parent is not None and parent.result and parent.result.get("ts"):
            payload["_parent"] = dict(parent.result)
        elif parent is None or parent.status == "dead":
            payload["_parent"] = None  # the message it followed never made it: this one goes alone
        else:
            return None, max(now + timedelta(seconds=FOLLOW_WAIT_S), parent.next_attempt_at)
    if row.result and row.result.get("ts"):
        payload["_previous"] = dict(row.result)
    return payload, None


class Deliverer:
    """Drain the outbox through notifiers, keeping a per-channel pace and honouring Retry-After per channel."""

    def __init__(
        self,
        db: Database,
        notifiers: Mapping[str, Notifier],
        *,
        messages_per_second: float = 1.0,
        max_attempts: int = 50,
        in_doubt_after_s: float = IN_DOUBT_AFTER_S,
        max_tick_s: float = 30.0,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.notifiers = dict(notifiers)
        self.min_gap_s = 1.0 / messages_per_second
        self.max_attempts = max_attempts
        self.in_doubt_after_s = in_doubt_after_s
        self.max_tick_s = max_tick_s
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self._last_sent: dict[str, float] = {}
        #: channel -> time before which nothing is sent there (a 429's Retry-After).
        self._held_until: dict[str, datetime] = {}

    def recover_in_doubt(self, *, older_than_s: float | None = None) -> int:
        """Settle rows a dead process left "sending": sent if the far side has them, else pending again."""
        wait_s = self.in_doubt_after_s if older_than_s is None else older_than_s
        now = self.clock()
        cutoff = now - timedelta(seconds=wait_s)
        settled = 0
        with self.db.session() as session:
            rows = (
                session.execute(
                    select(OutboxRow).where(OutboxRow.status == "sending", OutboxRow.sending_since <= cutoff)
                )
                .scalars()
                .all()
            )
            for row in rows:
                if row.payload.get("batch_key"):
                    continue  # a line of a summary: settled with its summary below
                notifier = self.notifiers.get(row.kind)
                found = None
                if notifier is not None:
                    payload, _ = _resolve(session, row, now)
                    try:
                        found = notifier.find_sent(_delivery(row, payload)) if payload is not None else None
                    except DeliveryError as exc:
                        log.warning("outbox %d: cannot tell whether it was sent yet: %s", row.id, exc)
                        continue
                if found is not None:
                    row.status, row.sent_at, row.result = "sent", now, found
                else:
                    row.status, row.next_attempt_at = "pending", now
                row.sending_since = None
                settled += 1
        return settled + recover_batches(self, cutoff)

    def deliver_due(self, *, limit: int = 100) -> int:
        """Send up to `limit` due rows; return how many went out."""
        self.recover_in_doubt()
        now = self.clock()
        with self.db.session() as session:
            due = session.execute(
                select(OutboxRow.id, OutboxRow.channel)
                .where(
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= now,
                    or_(*(OutboxRow.kind == kind for kind in self.notifiers)) if self.notifiers else false(),
                )
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(limit)
            ).all()
        sent = deliver_batches(self)
        failures = 0
        started = self.monotonic()
        for outbox_id, channel in due:
            if self.monotonic() - started > self.max_tick_s:
                break  # the rest waits for the next tick; a backlog must not hold the job for minutes
            held = self._held_until.get(channel)
            if held is not None and held > self.clock():
                continue
            outcome = self._deliver_one(outbox_id)
            if outcome is Outcome.SENT:
                sent, failures = sent + 1, 0
            elif outcome is Outcome.FAILED:
                failures += 1
                if failures >= CIRCUIT_FAILURES:
                    log.warning("outbox: %d deliveries failed in a row; leaving the rest for the next tick", failures)
                    break
        return sent

    def _claim(self, outbox_id: int) -> Delivery | None:
        now = self.clock()
        with self.db.session() as session:
            query = select(OutboxRow).where(OutboxRow.id == outbox_id, OutboxRow.status == "pending")
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = session.execute(query).scalar()
            if row is None:
                return None
            payload, wait_until = _resolve(session, row, now)
            if payload is None:
                row.next_attempt_at = wait_until or now
                return None
            row.status, row.sending_since = "sending", now
            row.attempts += 1
            return _delivery(row, payload)

    def pace(self, channel: str) -> None:
        """Wait until the channel's pace allows the next message."""
        last = self._last_sent.get(channel)
        if last is not None:
            wait = self.min_gap_s - (self.monotonic() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_sent[channel] = self.monotonic()

    def _deliver_one(self, outbox_id: int) -> Outcome:
        delivery = self._claim(outbox_id)
        if delivery is None:
            return Outcome.WAITING
        notifier = self.notifiers[delivery.kind]
        if delivery.attempts > 1:
            # an earlier attempt may have arrived with its answer lost (a timeout): look before sending again
            try:
                found = notifier.find_sent(delivery)
            except DeliveryError as exc:
                return self._failed(delivery, exc)
            if found is not None:
                self._sent(delivery, found)
                return Outcome.SENT
        self.pace(delivery.channel)
        try:
            result = notifier.send(delivery)
        except DeliveryError as exc:
            return self._failed(delivery, exc)
        except Exception as exc:  # a notifier bug must not take the pipeline down; keep the row
            log.exception("outbox %d: notifier %s raised", delivery.id, delivery.kind)
            return self._failed(delivery, DeliveryError(f"{type(exc).__name__}: {exc}"))
        self._sent(delivery, result)
        return Outcome.SENT

    def _sent(self, delivery: Delivery, result: dict[str, Any]) -> None:
        now = self.clock()
        first_sent = case((OutboxRow.sent_at.is_(None), literal(now, UTCDateTime())), else_=OutboxRow.sent_at)
        with self.db.session() as session:
            done = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == delivery.id,
                    OutboxRow.status == "sending",
                    func.coalesce(OutboxRow.payload["rev"].as_integer(), 0) == _revision(delivery.payload),
                )
                .values(status="sent", sent_at=first_sent, result=result, sending_since=None, last_error=None)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]  # re-armed while it was on the wire: keep the result and edit again
                session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == delivery.id)
                    .values(
                        status=case((OutboxRow.status == "sending", "pending"), else_=OutboxRow.status),
                        sent_at=first_sent,
                        result=result,
                        sending_since=None,
                        last_error=None,
                        next_attempt_at=literal(now, UTCDateTime()),
                    )
                    .execution_options(synchronize_session=False)
                )

    def _failed(self, delivery: Delivery, error: DeliveryError) -> Outcome:
        now = self.clock()
        with self.db.session() as session:
            row = session.get(OutboxRow, delivery.id)
            assert row is not None
            row.last_error = str(error)
            row.sending_since = None
            if error.permanent or row.attempts >= self.max_attempts:
                row.status = "dead"
                log.error("outbox %d to %s given up after %d attempts: %s", row.id, row.channel, row.attempts, error)
                # one refused message says nothing about the others: it does not count towards the circuit
                return Outcome.SKIPPED if error.permanent else Outcome.FAILED
            if error.retry_after_s is not None:
                delay = error.retry_after_s
                self._held_until[delivery.channel] = now + timedelta(seconds=delay)
            else:
                delay = retry_delay_s(row.attempts)
            row.status, row.next_attempt_at = "pending", now + timedelta(seconds=delay)
            log.warning(
                "outbox %d to %s failed (attempt %d), next try in %.0fs: %s",
                row.id,
                row.channel,
                row.attempts,
                delay,
                error,
            )
        return Outcome.RATE_LIMITED if error.retry_after_s is not None else Outcome.FAILED
