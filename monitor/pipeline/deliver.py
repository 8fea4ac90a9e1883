"""Deliver: send due outbox rows through their notifier; failures stay queued with error and next attempt.

A row is marked "sending" (committed) before the network call and "sent" after it. A crash in between leaves
it "sending"; the next run asks the notifier whether it arrived (`find_sent`) before trying again, so a
message is not sent twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from alerts.base import DeliveryError, Notifier
from monitor.domain import Delivery
from monitor.storage import Database
from monitor.storage.schema import OutboxRow

log = logging.getLogger(__name__)

#: A row left "sending" this long belongs to a process that died mid-send.
IN_DOUBT_AFTER_S = 30.0
RETRY_BASE_S = 2.0
RETRY_CAP_S = 600.0


def retry_delay_s(attempts: int) -> float:
    """Return the jittered exponential backoff after `attempts` failed attempts."""
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** min(attempts - 1, 12)) * random.uniform(0.8, 1.2)


def _delivery(row: OutboxRow) -> Delivery:
    return Delivery(id=row.id, kind=row.kind, channel=row.channel, dedupe_key=row.dedupe_key,
                    payload=row.payload, attempts=row.attempts)


class Deliverer:
    """Drain the outbox through notifiers, keeping a per-channel pace."""

    def __init__(
        self,
        db: Database,
        notifiers: Mapping[str, Notifier],
        *,
        messages_per_second: float = 1.0,
        max_attempts: int = 50,
        in_doubt_after_s: float = IN_DOUBT_AFTER_S,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.notifiers = dict(notifiers)
        self.min_gap_s = 1.0 / messages_per_second
        self.max_attempts = max_attempts
        self.in_doubt_after_s = in_doubt_after_s
        self.clock = clock
        self.sleep = sleep
        self._last_sent: dict[str, float] = {}

    def recover_in_doubt(self, *, older_than_s: float | None = None) -> int:
        """Settle rows a dead process left "sending": sent if the far side has them, else pending again."""
        wait_s = self.in_doubt_after_s if older_than_s is None else older_than_s
        cutoff = self.clock() - timedelta(seconds=wait_s)
        settled = 0
        with self.db.session() as session:
            rows = session.execute(
                select(OutboxRow).where(OutboxRow.status == "sending", OutboxRow.sending_since <= cutoff)
            ).scalars().all()
            for row in rows:
                notifier = self.notifiers.get(row.kind)
                found = None
                if notifier is not None:
                    try:
                        found = notifier.find_sent(_delivery(row))
                    except DeliveryError as exc:
                        log.warning("outbox %d: cannot tell whether it was sent yet: %s", row.id, exc)
                        continue
                if found is not None:
                    row.status, row.sent_at, row.result = "sent", self.clock(), found
                else:
                    row.status, row.next_attempt_at = "pending", self.clock()
                row.sending_since = None
                settled += 1
        return settled

    def deliver_due(self, *, limit: int = 100) -> int:
        """Send up to `limit` due rows; return how many went out."""
        self.recover_in_doubt()
        sent = 0
        now = self.clock()
        with self.db.session() as session:
            ids = session.execute(
                select(OutboxRow.id)
                .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now,
                       or_(*(OutboxRow.kind == kind for kind in self.notifiers)) if self.notifiers else False)
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(limit)
            ).scalars().all()
        for outbox_id in ids:
            if self._deliver_one(outbox_id):
                sent += 1
        return sent

    def _claim(self, outbox_id: int) -> Delivery | None:
        with self.db.session() as session:
            query = select(OutboxRow).where(OutboxRow.id == outbox_id, OutboxRow.status == "pending")
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = session.execute(query).scalar()
            if row is None:
                return None
            row.status, row.sending_since = "sending", self.clock()
            row.attempts += 1
            return _delivery(row)

    def _pace(self, channel: str) -> None:
        last = self._last_sent.get(channel)
        if last is not None:
            wait = self.min_gap_s - (time.monotonic() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_sent[channel] = time.monotonic()

    def _deliver_one(self, outbox_id: int) -> bool:
        delivery = self._claim(outbox_id)
        if delivery is None:
            return False
        notifier = self.notifiers[delivery.kind]
        self._pace(delivery.channel)
        try:
            result = notifier.send(delivery)
        except DeliveryError as exc:
            self._failed(delivery, exc)
            return False
        except Exception as exc:  # a notifier bug must not take the pipeline down; keep the row
            log.exception("outbox %d: notifier %s raised", delivery.id, delivery.kind)
            self._failed(delivery, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return False
        with self.db.session() as session:
            row = session.get(OutboxRow, delivery.id)
            assert row is not None
            row.status, row.sent_at, row.result = "sent", self.clock(), result
            row.sending_since, row.last_error = None, None
        return True

    def _failed(self, delivery: Delivery, error: DeliveryError) -> None:
        with self.db.session() as session:
            row = session.get(OutboxRow, delivery.id)
            assert row is not None
            row.last_error = str(error)
            row.sending_since = None
            if error.permanent or row.attempts >= self.max_attempts:
                row.status = "dead"
                log.error("outbox %d to %s given up after %d attempts: %s", row.id, row.channel, row.attempts, error)
                return
            delay = error.retry_after_s if error.retry_after_s is not None else retry_delay_s(row.attempts)
            row.status, row.next_attempt_at = "pending", self.clock() + timedelta(seconds=delay)
            log.warning("outbox %d to %s failed (attempt %d), next try in %.0fs: %s",
                        row.id, row.channel, row.attempts, delay, error)
