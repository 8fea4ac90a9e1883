"""Alert latency: from a post's arrival (its poll returns it) to the Slack API call, with the real scheduler."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback
from core.domain import Batch, Mention
from core.settings import Secrets
from core.storage import Database
from core.storage.schema import MentionRow
from monitor.bench import bench_settings
from monitor.bench.synthetic import synthetic_record
from monitor.pipeline import Pipeline, build_classifier, build_notifiers
from monitor.scheduler import JOB_DEFAULTS, add_jobs
from monitor.worker import work_left
from sources.base import Source


class ArrivingSource(Source):
    """Hand out mentions as their arrival times pass, noting when each poll returned each of them."""

    network = "x"

    def __init__(self, *, name: str, brand: str, schedule: Sequence[tuple[float, Mention]]) -> None:
        super().__init__(name=name, brand=brand, options={})
        self.schedule = sorted(schedule, key=lambda item: item[0])
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()

    def poll(self, cursor: str | None) -> Batch:
        """Return every mention due by now after `cursor` (a count); exhausted once all have arrived."""
        start = int(cursor or 0)
        now = time.monotonic()
        due = [m for at, m in self.schedule[start:] if at <= now]
        with self._lock:
            for mention in due:
                self.arrived.setdefault(mention.external_id, time.monotonic())
        end = start + len(due)
        return Batch(tuple(due), str(end), exhausted=end >= len(self.schedule))


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Alert latency percentiles over the alerts one run delivered."""

    posts: int
    alerts: int
    p50_s: float
    p99_s: float
    max_s: float
    classifier: str


def _schedule(posts: int, rate_per_s: float, start: float) -> list[tuple[float, Mention]]:
    import random

    rng = random.Random(42)
    schedule = []
    at = start
    base = datetime.now(UTC)
    for index in range(posts):
        at += rng.expovariate(rate_per_s)
        record = synthetic_record(index, rng, start=base)
        mention = Mention(network="x", external_id=str(record["id"]), author_handle=str(record["author_handle"]),
                          author_name=str(record["author_name"]), text=str(record["text"]),
                          created_at=base, url=f"https://x.com/i/status/{index}", language="en",
                          author_followers=int(str(record["author_followers"])))
        schedule.append((at, mention))
    return schedule


def measure_latency(*, workdir: Path, posts: int = 150, rate_per_s: float = 5.0, classifier: str = "lexicon",
                    database_url: str | None = None, timeout_s: float = 120.0) -> LatencyResult:
    """Stream `posts` posts at `rate_per_s` through the scheduler at its default intervals; time each alert."""
    received: dict[str, float] = {}

    def on_message(_channel: str, message: dict[str, Any]) -> None:
        key = ((message.get("metadata") or {}).get("event_payload") or {}).get("dedupe_key")
        if key:
            received.setdefault(str(key), time.monotonic())

    url = database_url or f"sqlite:///{workdir / 'latency.db'}"
    db = Database(url)
    db.migrate()
    with SlackLoopback(on_message=on_message) as slack:
        # Slack's own 1 message/s per channel is the network's pace, not ours: it is lifted here.
        settings = bench_settings(database_url=url, streams=[], classifier=classifier, slack_base_url=slack.base_url,
                                  messages_per_second=1000, extra={"sources": [
                                      {"name": "arriving", "type": "replay", "brand": "Kestrel Mobile",
                                       "poll_interval_s": 1.0, "options": {"path": "-"}}]})
        source = ArrivingSource(name="arriving", brand="Kestrel Mobile",
                                schedule=_schedule(posts, rate_per_s, time.monotonic() + 2.0))
        pipeline = Pipeline(settings, db, classifier=build_classifier(settings), sources={"arriving": source},
                            notifiers=build_notifiers(settings, Secrets()))
        pipeline.classify(limit=1)  # load the model before the clock starts
        scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
        add_jobs(scheduler, pipeline)
        scheduler.start()
        try:
            deadline = time.monotonic() + timeout_s + posts / rate_per_s
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if len(source.arrived) == posts and work_left(db, ["arriving"]) == 0:
                    break
            else:
                raise RuntimeError("the latency run did not finish in time")
        finally:
            scheduler.shutdown(wait=True)
        with db.session() as session:
            ids = dict(session.execute(select(MentionRow.id, MentionRow.external_id)).all())
        db.dispose()
    latencies = []
    for key, at in received.items():
        mention_id = int(key.rsplit(":", 1)[1])
        latencies.append(at - source.arrived[ids[mention_id]])
    if not latencies:
        raise RuntimeError("no alert reached the loopback Slack")
    values = np.array(latencies)
    return LatencyResult(posts=posts, alerts=len(latencies), p50_s=float(np.percentile(values, 50)),
                         p99_s=float(np.percentile(values, 99)), max_s=float(values.max()),
                         classifier=pipeline.classifier.name)
