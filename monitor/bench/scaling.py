"""Scale-out: throughput of 1, 2 and 4 `brandmon worker` processes sharing one PostgreSQL database.

Throughput is poll + store + classify + route (queue items); Slack delivery stays one paced task however many
workers run, so it is left out here and measured by the alert latency figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import func, select

from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, RoutingRow
from core.storage.worker_tables import WorkerRow
from monitor.bench import bench_settings, fresh_postgres_schema
from monitor.bench.synthetic import write_mentions
from monitor.worker import migrate_once


@dataclass(frozen=True, slots=True)
class ScalingResult:
    """One run: how many workers, how many mentions, and how fast they went through the whole loop."""

    workers: int
    mentions: int
    queued: int
    seconds: float
    busy_workers: int

    @property
    def per_s(self) -> float:
        """Return mentions per second, from the first stored to the last routed."""
        return self.mentions / self.seconds if self.seconds else 0.0


def write_streams(workdir: Path, mentions: int, sources: int) -> list[Path]:
    """Split `mentions` synthetic posts over `sources` files with distinct ids."""
    per = mentions // sources
    return [write_mentions(workdir / f"stream-{i}.jsonl", per, seed=100 + i, prefix=f"s{i}") for i in range(sources)]


def worker_command(config: Path, worker_id: str) -> list[str]:
    """Return the command line of one worker that exits once all work is done."""
    return [sys.executable, "-m", "monitor", "worker", "-c", str(config), "--id", worker_id, "--exit-when-idle",
            "--idle-sleep-s", "0.2"]


def run_workers(config: Path, count: int, *, timeout_s: float) -> None:
    """Start `count` worker processes and wait for all of them; raise if one fails."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("BRANDMON_DATABASE_URL", None)
    processes = [subprocess.Popen(worker_command(config, f"bench-w{i}"), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for i in range(count)]
    deadline = time.monotonic() + timeout_s
    failures = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
            failures.append(f"worker {process.pid} timed out")
            continue
        if process.returncode != 0:
            failures.append(f"worker {process.pid} exited {process.returncode}: {err.decode(errors='replace')[-800:]}")
    if failures:
        raise RuntimeError("; ".join(failures))


def measure_one(postgres_url: str, streams: Sequence[Path], workers: int, *, workdir: Path,
                classifier: str = "lexicon", timeout_s: float = 600.0) -> ScalingResult:
    """Run `workers` worker processes over `streams` in a fresh schema; return what they achieved."""
    with fresh_postgres_schema(postgres_url) as url:
        # Slack delivery is one paced task whatever the number of workers; the work that scales is measured
        settings = bench_settings(database_url=url, streams=streams, classifier=classifier, slack_enabled=False,
                                  poll_interval_s=5.0)
        config = workdir / f"workers-{workers}.yaml"
        data = settings.model_dump(mode="json", exclude={"database_url"})
        config.write_text(yaml.safe_dump({**data, "database_url": url}), encoding="utf-8")
        db = Database(url)
        migrate_once(db)
        try:
            run_workers(config, workers, timeout_s=timeout_s)
            with db.session() as session:
                stored = session.execute(select(func.count()).select_from(MentionRow)).scalar_one()
                classified = session.execute(select(func.count()).select_from(ClassificationRow)).scalar_one()
                first = session.execute(select(func.min(MentionRow.ingested_at))).scalar_one()
                routed = session.execute(select(func.max(RoutingRow.routed_at))).scalar_one()
                queued = session.execute(select(func.count()).select_from(QueueItemRow)).scalar_one()
                busy = session.execute(select(func.count()).select_from(WorkerRow)
                                       .where((WorkerRow.tasks_run > 0) | (WorkerRow.classified > 0))).scalar_one()
        finally:
            db.dispose()
        expected = sum(1 for path in streams for _ in path.open(encoding="utf-8"))
        if stored != expected or classified != expected:
            raise RuntimeError(f"{workers} workers stored {stored} and classified {classified} of {expected}")
        return ScalingResult(workers=workers, mentions=int(stored), queued=int(queued),
                             seconds=(routed - first).total_seconds(), busy_workers=int(busy))


def measure_scaling(postgres_url: str, *, workdir: Path, mentions: int = 20_000, sources: int = 8,
                    worker_counts: Sequence[int] = (1, 2, 4), classifier: str = "lexicon") -> list[ScalingResult]:
    """Measure throughput with each number of workers over the same synthetic streams."""
    streams = write_streams(workdir, mentions, sources)
    return [measure_one(postgres_url, streams, n, workdir=workdir, classifier=classifier) for n in worker_counts]
