"""Scale-out: leases keep each task with one worker; several workers share the work and lose nothing."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from core.storage import Database
from core.storage.worker_tables import WorkerRow, WorkerTaskRow
from models.lexicon import LexiconClassifier
from monitor.pipeline import Pipeline
from monitor.worker import Worker, migrate_once, work_left, worker_report
from tests.support.clock import Clock
from tests.support.drills import PollJournal, RecordingSource, line_count, settings_for, streams, table_counts
from tests.support.processes import CAP_S, Processes, wait_for


def worker_for(db: Database, files: list[Path], clock: Clock, name: str, *, journal: PollJournal | None = None,
               lease_s: float = 60.0) -> Worker:
    settings = settings_for(str(db.url.render_as_string(hide_password=False)), files, slack_enabled=False)
    sources = {
        config.name: RecordingSource(worker=name, journal=journal or PollJournal(), name=config.name,
                                     brand=config.brand, options=config.options)
        for config in settings.sources
    }
    pipeline = Pipeline(settings, db, classifier=LexiconClassifier(), sources=sources, notifiers={}, clock=clock)
    return Worker(pipeline, worker_id=name, lease_s=lease_s, idle_sleep_s=0.01, clock=clock)


def test_a_leased_task_belongs_to_one_worker_until_released_or_expired(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    files = streams(tmp_path, sources=1, per_source=10)
    first = worker_for(db, files, clock, "first", lease_s=60)
    second = worker_for(Database(str(db.url.render_as_string(hide_password=False))), files, clock, "second",
                        lease_s=60)
    first.sync_tasks()
    second.sync_tasks()

    claimed = first.claim()
    assert claimed is not None
    held_by_second = set()
    while (name := second.claim()) is not None:
        held_by_second.add(name)
    assert claimed not in held_by_second, "two workers hold the same task"

    # the first worker dies holding its lease: nobody may take the task until the lease runs out
    clock.advance(seconds=59)
    assert second.claim() is None
    clock.advance(seconds=2)
    assert second.claim() == claimed
    with db.session() as session:
        assert session.get(WorkerTaskRow, claimed).lease_owner == "second"  # type: ignore[union-attr]
    second.db.dispose()


def test_release_schedules_the_next_run_and_wake_brings_it_forward(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    worker = worker_for(db, streams(tmp_path, per_source=5), clock, "solo")
    worker.sync_tasks()
    while (name := worker.claim()) is not None:
        worker.release(worker.run_task(name))
    with db.session() as session:
        deliver = session.get(WorkerTaskRow, "deliver")
        assert deliver is not None and deliver.runs == 1 and deliver.last_owner == "solo"
        assert (deliver.next_run_at - clock.now).total_seconds() == pytest.approx(2.0)
    worker.wake("deliver")
    assert worker.claim() == "deliver"


def test_one_worker_does_the_whole_loop_and_knows_when_it_is_done(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    files = streams(tmp_path, sources=2, per_source=40)
    worker = worker_for(db, files, clock, "solo")
    worker.run(exit_when_idle=True)
    counts = table_counts(db)
    assert counts["mentions"] == counts["distinct"] == counts["classified"] == counts["routed"] == line_count(files)
    assert work_left(db, list(worker.pipeline.sources)) == 0
    [report] = worker_report(db, now=clock.now)
    assert report["state"] == "stopped" and report["classified"] == line_count(files)


@pytest.mark.postgres
def test_four_workers_share_postgres_work_without_overlap(postgres_url: str, tmp_path: Path) -> None:
    setup = Database(postgres_url)
    migrate_once(setup)
    files = streams(tmp_path, sources=6, per_source=150)
    journal = PollJournal()
    clock = Clock()
    workers = [worker_for(Database(postgres_url), files, clock, f"w{i}", journal=journal) for i in range(4)]
    threads = [threading.Thread(target=w.run, kwargs={"exit_when_idle": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CAP_S)
    assert not any(thread.is_alive() for thread in threads)

    counts = table_counts(setup)
    total = line_count(files)
    assert counts["mentions"] == counts["distinct"] == counts["classified"] == counts["routed"] == total
    assert journal.overlaps() == [], "a source was polled by two workers at the same time"
    assert sum(w.classified for w in workers) == total
    assert sum(w.classified > 0 for w in workers) >= 2, "SKIP LOCKED did not share the scoring between workers"
    assert len({entry[1] for entry in journal.entries}) >= 2, "the polls were not shared between workers"
    for worker in workers:
        worker.db.dispose()
    setup.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_brandmon_worker_processes_share_one_database(postgres_url: str, tmp_path: Path, processes: Processes) -> None:
    files = streams(tmp_path, sources=4, per_source=100)
    settings = settings_for(postgres_url, files, slack_enabled=False)
    config = tmp_path / "brandmon.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("BRANDMON_DATABASE_URL", None)
    command = [sys.executable, "-m", "monitor", "worker", "-c", str(config), "--exit-when-idle", "--idle-sleep-s",
               "0.1"]
    children = [processes.start([*command, "--id", f"proc-{i}"], env=env) for i in range(2)]
    for child in children:
        wait_for(lambda c=child: not c.alive(), what=f"worker pid {child.pid} exiting when idle")
        assert child.process.returncode == 0, child.stderr()[-2000:]
        assert "Ctrl-C stops" in child.stdout()

    db = Database(postgres_url)
    counts = table_counts(db)
    assert counts["mentions"] == counts["distinct"] == counts["classified"] == counts["routed"] == line_count(files)
    with db.session() as session:
        workers = session.execute(select(WorkerRow)).scalars().all()
    assert sorted(w.worker_id for w in workers) == ["proc-0", "proc-1"]
    assert all(w.stopped_at is not None for w in workers)
    assert sum(w.classified for w in workers) == line_count(files)
    status = processes.start([*command[:6], "--status"], env=env)
    wait_for(lambda: not status.alive(), what="worker --status")
    assert status.process.returncode == 0 and "proc-0" in status.stdout() and "stopped" in status.stdout()
    db.dispose()
