"""Ingest and backfill: replay a file of mentions, store, classify and route it, timing each step."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tqdm import tqdm

from core.settings import Secrets
from core.storage import Database
from core.storage.schema import RoutingRow
from models.throughput import peak_rss_mib
from monitor.bench import bench_settings
from monitor.bench.synthetic import write_mentions
from monitor.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """Wall time of each step of one backfill, and the process's peak memory."""

    mentions: int
    backend: str
    classifier: str
    ingest_s: float
    classify_s: float
    route_s: float
    peak_rss_mib: float

    @property
    def total_s(self) -> float:
        """Return the whole backfill's wall time."""
        return self.ingest_s + self.classify_s + self.route_s

    @property
    def ingest_per_s(self) -> float:
        """Return mentions stored per second."""
        return self.mentions / self.ingest_s if self.ingest_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON values."""
        return {**asdict(self), "total_s": self.total_s, "ingest_per_s": self.ingest_per_s}


def _bar(total: int, desc: str, progress: bool) -> tqdm[Any]:
    return tqdm(total=total, desc=desc, unit="post", disable=not progress, leave=False, mininterval=0.5)


def ingest(pipeline: Pipeline, total: int, *, progress: bool = False) -> float:
    """Poll every source until exhausted, storing each batch; return the wall time in seconds."""
    started = time.perf_counter()
    with _bar(total, "ingest", progress) as bar:
        active = set(pipeline.sources)
        while active:
            for name in sorted(active):
                outcome = pipeline.poll(name)
                if outcome.error:
                    raise RuntimeError(f"source {name}: {outcome.error}")
                bar.update(outcome.fetched)
                if outcome.exhausted:
                    active.discard(name)
    return time.perf_counter() - started


def classify_all(pipeline: Pipeline, total: int, *, progress: bool = False) -> float:
    """Classify every stored mention; return the wall time in seconds."""
    started = time.perf_counter()
    chunk = 10_000
    with _bar(total, "classify", progress) as bar:
        while done := pipeline.classify(limit=chunk):
            bar.update(done)
    return time.perf_counter() - started


def route_all(pipeline: Pipeline, total: int, *, progress: bool = False) -> float:
    """Route every classified mention (alerts into the outbox, items into the queue); return seconds."""
    started = time.perf_counter()
    with _bar(total, "route", progress) as bar:
        # route_pending drains everything in one call: a watcher moves the bar from the routings count
        done = threading.Event()
        watcher = threading.Thread(target=_watch_routings, args=(pipeline.db, bar, done), daemon=True)
        if progress:
            watcher.start()
        routed = pipeline.route()
        done.set()
        if progress:
            watcher.join()
        bar.update(routed - bar.n)
    return time.perf_counter() - started


def _watch_routings(db: Database, bar: tqdm[Any], done: threading.Event) -> None:
    while not done.wait(1.0):
        with db.session() as session:
            count = session.execute(select(func.count()).select_from(RoutingRow)).scalar_one()
        bar.update(count - bar.n)


def run_backfill(count: int, *, workdir: Path, database_url: str | None = None, classifier: str = "lexicon",
                 progress: bool = True) -> BackfillResult:
    """Generate `count` mentions in `workdir`, then store, classify and route them all in this process."""
    stream = write_mentions(workdir / f"mentions-{count}.jsonl", count)
    url = database_url or f"sqlite:///{workdir / f'backfill-{count}.db'}"
    db = Database(url)
    db.migrate()
    # history is queued and counted, not alerted: a backfill posts nothing to Slack about old posts
    settings = bench_settings(database_url=url, streams=[stream], classifier=classifier, slack_enabled=False)
    pipeline = Pipeline.from_settings(settings, db, secrets=Secrets())
    try:
        ingest_s = ingest(pipeline, count, progress=progress)
        classify_s = classify_all(pipeline, count, progress=progress)
        route_s = route_all(pipeline, count, progress=progress)
    finally:
        db.dispose()
    return BackfillResult(mentions=count, backend=db.dialect, classifier=pipeline.classifier.name,
                          ingest_s=ingest_s, classify_s=classify_s, route_s=route_s, peak_rss_mib=peak_rss_mib())


def backfill_in_child(count: int, *, database_url: str | None = None, classifier: str = "lexicon",
                      progress: bool = True) -> BackfillResult:
    """Run one backfill in a fresh Python process, so its peak memory is its own; progress goes to stderr."""
    with tempfile.TemporaryDirectory(prefix="brandmon-backfill-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "monitor", "bench", "backfill", "--mentions", str(count),
                   "--classifier", classifier, "--workdir", tmp, "--json-out", str(out)]
        if database_url:
            command += ["--database-url", database_url]
        if not progress:
            command.append("--no-progress")
        completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=None if progress else subprocess.PIPE,
                                   check=False)
        if completed.returncode != 0:
            detail = (completed.stderr or b"").decode(errors="replace")[-2000:]
            raise RuntimeError(f"backfill of {count} mentions failed (exit {completed.returncode}) {detail}")
        data = json.loads(out.read_text(encoding="utf-8"))
    fields = {k: data[k] for k in BackfillResult.__dataclass_fields__}
    return BackfillResult(**fields)


def measure_ingest(database_url: str, count: int, *, workdir: Path, progress: bool = False) -> float:
    """Replay `count` synthetic mentions into the (empty) database at `database_url`; return mentions/s."""
    stream = workdir / f"ingest-{count}.jsonl"
    if not stream.exists():
        write_mentions(stream, count)
    db = Database(database_url)
    db.migrate()
    try:
        settings = bench_settings(database_url=database_url, streams=[stream], slack_enabled=False)
        pipeline = Pipeline(settings, db, classifier=_cheap_classifier(), sources=_sources(settings), notifiers={})
        return count / ingest(pipeline, count, progress=progress)
    finally:
        db.dispose()


def _sources(settings: Any) -> dict[str, Any]:
    from monitor.pipeline import build_sources

    sources, errors = build_sources(settings)
    if errors:
        raise RuntimeError(f"bench sources cannot start: {errors}")
    return sources


def _cheap_classifier() -> Any:
    from models.lexicon import LexiconClassifier

    return LexiconClassifier()
