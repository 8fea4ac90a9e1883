"""Scale-out: several `brandmon worker` processes share one database's work through PostgreSQL row locks.

Polling a source, routing and delivering are singleton tasks, one row each in `worker_tasks`. A worker claims
a due task with `SELECT ... FOR UPDATE SKIP LOCKED` and a guarded UPDATE that writes a lease (owner and
expiry), runs it outside the transaction, and releases it with the next run time. So each source is polled by
exactly one worker at a time, and a worker killed mid-task loses its lease after `lease_s` and another one
takes over. Classifying and (on PostgreSQL) routing are the CPU-heavy steps and run in every worker at once:
each batch of mentions is locked with `FOR UPDATE SKIP LOCKED` until its results are stored, so no two workers
score or route the same post.

SQLite works too (the guarded UPDATE keeps leases exclusive; routing stays a singleton task there), but only
for processes on one machine.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, text, update

from core.storage import Database, insert_ignore
from core.storage.schema import ClassificationRow, MentionRow, OutboxRow, RoutingRow, SourceStateRow, utcnow
from core.storage.worker_tables import WorkerRow, WorkerTaskRow
from monitor.pipeline import Pipeline
from monitor.pipeline.classify import classify_pending
from monitor.pipeline.route import route_pending

log = logging.getLogger(__name__)

#: Any constant works; every brandmon process that migrates takes this PostgreSQL advisory lock first.
MIGRATE_LOCK_KEY = 0x6272616E646D6F6E  # "brandmon"
ROUTE, DELIVER, SPIKES, DIGEST = "route", "deliver", "spikes", "digest"
#: Messages one deliver task sends before it gives its lease back (and is due again at once if more wait).
DELIVER_LIMIT = 50


def default_worker_id() -> str:
    """Return an id that is unique across machines: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def migrate_once(db: Database) -> None:
    """Migrate under a PostgreSQL advisory lock, so workers started together do not race to create tables."""
    if db.dialect != "postgresql":
        db.migrate()
        return
    with db.engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK_KEY})
        try:
            db.migrate()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK_KEY})
            connection.commit()


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What one claimed task did."""

    name: str
    produced: int
    error: str | None = None
    more_waiting: bool = False


class Worker:
    """Claim due tasks and classify batches until stopped; many of these may run against one database."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        worker_id: str | None = None,
        lease_s: float = 120.0,
        idle_sleep_s: float = 0.5,
        classify_batches: int = 4,
        heartbeat_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.db = pipeline.db
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = lease_s
        self.idle_sleep_s = idle_sleep_s
        self.classify_limit = classify_batches * pipeline.settings.classifier.batch_size
        #: Row locks let every worker route at once on PostgreSQL; elsewhere routing is a leased singleton.
        self.parallel_route = self.db.dialect == "postgresql"
        self.heartbeat_s = heartbeat_s
        self.clock = clock or pipeline.clock
        self.stop = stop or threading.Event()
        self._last_heartbeat: float | None = None
        self._tasks_run = 0
        self._classified = 0
        #: next_run_at of each task as claimed; a different value at release means a step woke it meanwhile.
        self._claimed_due: dict[str, datetime] = {}

    @property
    def classified(self) -> int:
        """Return how many mentions this worker has scored so far."""
        return self._classified

    # -- task table -----------------------------------------------------------------------------------
    def task_intervals(self) -> dict[str, float]:
        """Return this worker's tasks and their intervals (0: the digest's weekly schedule), as `brandmon run` has."""
        settings = self.pipeline.settings
        tasks: dict[str, float] = {}
        for config in settings.sources:
            source = self.pipeline.sources.get(config.name)
            if source is None:
                continue
            tasks[f"poll:{config.name}"] = config.poll_interval_s
            if callable(getattr(source, "deleted_among", None)):  # Reddit's terms: purge what was deleted there
                tasks[f"sweep:{config.name}"] = float(getattr(source, "sweep_interval_s", 3600.0))
        if not self.parallel_route:
            tasks[ROUTE] = settings.scheduler.route_interval_s
        tasks[DELIVER] = settings.scheduler.deliver_interval_s
        if settings.slack.enabled and settings.slack.spikes.channel is not None:
            tasks[SPIKES] = settings.slack.spikes.interval_s
        if settings.digest.enabled:
            tasks[DIGEST] = 0.0
        return tasks

    def _next_run(self, name: str, interval_s: float, now: datetime) -> datetime:
        if name != DIGEST:
            return now + timedelta(seconds=interval_s)
        from apscheduler.triggers.cron import CronTrigger

        options = self.pipeline.settings.digest
        hour, minute = (int(part) for part in options.schedule_time.split(":"))
        trigger = CronTrigger(day_of_week=options.schedule_day, hour=hour, minute=minute, timezone=options.timezone)
        fire = trigger.get_next_fire_time(None, now + timedelta(seconds=1))
        assert fire is not None
        return fire.astimezone(UTC)

    def sync_tasks(self) -> None:
        """Create the task rows this worker knows about (a no-op for rows another worker created)."""
        now = self.clock()
        rows = [{"name": name, "interval_s": interval, "runs": 0,
                 "next_run_at": self._next_run(name, interval, now) if name == DIGEST else now}
                for name, interval in self.task_intervals().items()]
        with self.db.session() as session:
            insert_ignore(session, WorkerTaskRow, rows, conflict=("name",))

    def claim(self) -> str | None:
        """Lease one due task nobody holds; return its name, or None when nothing is due."""
        now = self.clock()
        names = list(self.task_intervals())
        free = or_(WorkerTaskRow.lease_until.is_(None), WorkerTaskRow.lease_until < now)
        with self.db.session() as session:
            candidates = session.execute(
                select(WorkerTaskRow.name, WorkerTaskRow.next_run_at)
                .where(WorkerTaskRow.name.in_(names), WorkerTaskRow.next_run_at <= now, free)
                .order_by(WorkerTaskRow.next_run_at)
                .limit(4)
                .with_for_update(skip_locked=True)
            ).all()
            for name, due in candidates:
                # the guard keeps the lease exclusive where FOR UPDATE is not supported (SQLite)
                claimed = session.connection().execute(
                    update(WorkerTaskRow)
                    .where(WorkerTaskRow.name == name, free)
                    .values(lease_owner=self.worker_id, lease_until=now + timedelta(seconds=self.lease_s))
                ).rowcount
                if claimed == 1:
                    self._claimed_due[name] = due
                    return str(name)
        return None

    def release(self, result: TaskResult) -> None:
        """Give a task back with its next run time; a task that left work waiting is due again at once."""
        now = self.clock()
        with self.db.session() as session:
            row = session.get(WorkerTaskRow, result.name)
            if row is None or row.lease_owner != self.worker_id:
                log.warning("task %s: lease lost before release (it ran longer than %.0fs)", result.name, self.lease_s)
                return
            woken = row.next_run_at != self._claimed_due.pop(result.name, row.next_run_at)
            row.next_run_at = now if result.more_waiting or woken else self._next_run(row.name, row.interval_s, now)
            row.lease_owner, row.lease_until = None, None
            row.last_run_at, row.last_owner, row.last_error = now, self.worker_id, result.error
            row.runs = (row.runs or 0) + 1

    def wake(self, name: str) -> None:
        """Make a task due now, so the next step runs without waiting for its interval."""
        with self.db.session() as session:
            now = self.clock()
            session.execute(update(WorkerTaskRow)
                            .where(WorkerTaskRow.name == name,
                                   or_(WorkerTaskRow.next_run_at > now, WorkerTaskRow.lease_owner.is_not(None)))
                            .values(next_run_at=now))

    # -- running ----------------------------------------------------------------------------------------
    def run_task(self, name: str) -> TaskResult:
        """Run one claimed task; an error is recorded on its row, never raised."""
        try:
            if name.startswith("poll:"):
                outcome = self.pipeline.poll(name.removeprefix("poll:"))
                return TaskResult(name, outcome.stored, outcome.error,
                                  more_waiting=bool(outcome.fetched) and not outcome.exhausted and not outcome.error)
            if name == ROUTE:
                routed = self.pipeline.route()
                if routed:
                    self.wake(DELIVER)
                return TaskResult(name, routed)
            if name == DELIVER:
                sent = self.pipeline.deliver(limit=DELIVER_LIMIT)
                return TaskResult(name, sent, more_waiting=sent >= DELIVER_LIMIT)
            if name.startswith("sweep:"):
                self.pipeline.sweep(name.removeprefix("sweep:"))
                return TaskResult(name, 0)
            if name == SPIKES:
                queued = int(self.pipeline.detect_spikes())
                if queued:
                    self.wake(DELIVER)
                return TaskResult(name, queued)
            if name == DIGEST:
                from monitor.digest.job import run_weekly

                results = run_weekly(self.pipeline.settings, self.db, now=self.clock())
                self.wake(DELIVER)
                return TaskResult(name, len(results))
            return TaskResult(name, 0, f"unknown task {name!r}")
        except Exception as exc:  # a failing step must not stop the worker; it runs again on its next turn
            log.exception("worker %s: task %s failed", self.worker_id, name)
            return TaskResult(name, 0, f"{type(exc).__name__}: {exc}")

    def classify(self) -> int:
        """Classify a few batches of mentions no other worker holds."""
        p = self.pipeline
        return classify_pending(self.db, p.classifier, p.settings.sla, now=self.clock(),
                                batch_size=p.settings.classifier.batch_size, limit=self.classify_limit,
                                matchers=p.matchers, skip_locked=True, communities=p.communities)

    def run_once(self) -> bool:
        """Run at most one task and one round of classification; return True when anything was done."""
        self.heartbeat()
        did = False
        name = self.claim()
        if name is not None:
            result = self.run_task(name)
            self.release(result)
            self._tasks_run += 1
            did = True
        try:
            classified = self.classify()
        except Exception:
            log.exception("worker %s: classify failed; it runs again on the next turn", self.worker_id)
            classified = 0
        if classified:
            self._classified += classified
            did = True
            if not self.parallel_route:
                self.wake(ROUTE)
        if self.parallel_route:
            try:
                routed = route_pending(self.db, self.pipeline.settings, now=self.clock(), skip_locked=True)
            except Exception:
                log.exception("worker %s: route failed; it runs again on the next turn", self.worker_id)
                routed = 0
            if routed:
                self.wake(DELIVER)
                did = True
        return did

    def heartbeat(self, *, stopped: bool = False) -> None:
        """Record that this worker is alive (at most every `heartbeat_s`), with what it has done."""
        tick = time.monotonic()
        if not stopped and self._last_heartbeat is not None and tick - self._last_heartbeat < self.heartbeat_s:
            return
        now = self.clock()
        with self.db.session() as session:
            row = session.get(WorkerRow, self.worker_id)
            if row is None:
                row = WorkerRow(worker_id=self.worker_id, host=socket.gethostname(), pid=os.getpid(),
                                started_at=now, tasks_run=0, classified=0)
                session.add(row)
            row.seen_at = now
            row.tasks_run, row.classified = self._tasks_run, self._classified
            row.stopped_at = now if stopped else None
        self._last_heartbeat = tick

    def idle(self) -> bool:
        """Return True when every source is exhausted and nothing is left to classify, route or deliver."""
        return work_left(self.db, list(self.pipeline.sources)) == 0

    def run(self, *, exit_when_idle: bool = False) -> None:
        """Loop until `stop` is set (or, with `exit_when_idle`, until all work is done)."""
        self.sync_tasks()
        log.info("worker %s started with %d tasks", self.worker_id, len(self.task_intervals()))
        try:
            while not self.stop.is_set():
                try:
                    did = self.run_once()
                except Exception:  # the database went away: wait and try again, losing nothing
                    log.exception("worker %s: database error; retrying", self.worker_id)
                    did = False
                if not did:
                    if exit_when_idle and self.idle():
                        break
                    self.stop.wait(self.idle_sleep_s)
        finally:
            try:
                self.heartbeat(stopped=True)
            except Exception:
                log.warning("worker %s: could not record its stop", self.worker_id)
        log.info("worker %s stopped after %d tasks, %d classified", self.worker_id, self._tasks_run,
                 self._classified)


def work_left(db: Database, source_names: list[str]) -> int:
    """Count what is still to do: unexhausted sources, unclassified or unrouted mentions, open outbox rows."""
    with db.session() as session:
        exhausted = set(session.execute(
            select(SourceStateRow.source_name).where(SourceStateRow.exhausted.is_(True))
        ).scalars().all())
        unclassified = session.execute(
            select(func.count()).select_from(MentionRow)
            .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(ClassificationRow.mention_id.is_(None))
        ).scalar_one()
        unrouted = session.execute(
            select(func.count()).select_from(ClassificationRow)
            .outerjoin(RoutingRow, RoutingRow.mention_id == ClassificationRow.mention_id)
            .where(RoutingRow.mention_id.is_(None))
        ).scalar_one()
        outbox = session.execute(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.status.in_(("pending", "sending")))
        ).scalar_one()
    return len(set(source_names) - exhausted) + int(unclassified) + int(unrouted) + int(outbox)


def worker_report(db: Database, *, now: datetime | None = None, stale_after_s: float = 60.0) -> list[dict[str, object]]:
    """Return every worker with its state: running, stopped, or silent (no heartbeat for `stale_after_s`)."""
    now = now or utcnow()
    with db.session() as session:
        rows = session.execute(select(WorkerRow).order_by(WorkerRow.started_at)).scalars().all()
        held = dict(session.execute(
            select(WorkerTaskRow.name, WorkerTaskRow.lease_owner).where(WorkerTaskRow.lease_owner.is_not(None))
        ).all())
    report = []
    for row in rows:
        state = "stopped" if row.stopped_at else (
            "silent" if (now - row.seen_at).total_seconds() > stale_after_s else "running")
        report.append({"worker": row.worker_id, "host": row.host, "pid": row.pid, "state": state,
                       "seen_at": row.seen_at, "tasks_run": row.tasks_run, "classified": row.classified,
                       "holding": sorted(name for name, owner in held.items() if owner == row.worker_id)})
    return report
