"""Fault drills: Slack down for an hour then back, and the database unreachable for a minute.

Simulated time moves by hand: an hour of scheduler ticks runs in a second or two, never sleeping.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from monitor.scheduler import _guarded
from monitor.worker import Worker
from tests.support.clock import Clock
from tests.support.drills import (
    TcpProxy,
    free_port,
    line_count,
    make_pipeline,
    outbox_keys,
    settings_for,
    slack_keys,
    streams,
    table_counts,
)


def tick(pipeline: object, names: list[str]) -> None:
    """Run each step once the way the scheduler runs it: errors are logged, never raised."""
    for name in names:
        _guarded(f"poll:{name}", lambda n=name: pipeline.poll(n))()  # type: ignore[attr-defined]
    for step in ("classify", "route", "deliver"):
        _guarded(step, getattr(pipeline, step))()


def test_slack_down_for_an_hour_then_back_delivers_everything_once(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    files = streams(tmp_path, sources=2, per_source=40)
    port = free_port()  # nothing listens here until Slack comes back
    slack_url = f"http://127.0.0.1:{port}/api/"
    settings = settings_for(str(db.url.render_as_string(hide_password=False)), files, slack_url=slack_url)
    pipeline = make_pipeline(db, settings, clock, slack_url=slack_url)
    names = sorted(pipeline.sources)

    for _ in range(30):  # an hour of ticks every two minutes with Slack refusing connections
        tick(pipeline, names)
        clock.advance(minutes=2)
    during = table_counts(db)
    assert during["mentions"] == during["classified"] == during["routed"] == line_count(files), \
        "Slack being down held up ingest or classification"
    assert during.get("outbox_sent", 0) == 0 and during.get("outbox_dead", 0) == 0
    assert during.get("outbox_pending", 0) > 0

    with SlackLoopback(port=port) as slack:
        for _ in range(20):  # Slack is back: twenty more minutes of ticks
            tick(pipeline, names)
            clock.advance(minutes=1)
    after = table_counts(db)
    delivered = slack_keys(slack)
    assert after.get("outbox_sent", 0) == len(outbox_keys(db)) and after.get("outbox_pending", 0) == 0
    assert set(delivered) == outbox_keys(db), "an alert was lost"
    assert max(delivered.values()) == 1, "an alert was sent twice"


@pytest.mark.postgres
def test_database_unreachable_for_a_minute_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    direct = Database(postgres_url)
    direct.migrate()
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).up()
    proxied = Database(postgres_url.replace(f":{url.port or 5432}/", f":{proxy.port}/", 1))
    clock = Clock()
    files = streams(tmp_path, sources=2, per_source=60)
    with SlackLoopback() as slack:
        settings = settings_for(postgres_url, files, slack_url=slack.base_url)
        pipeline = make_pipeline(proxied, settings, clock)
        names = sorted(pipeline.sources)
        worker = Worker(pipeline, worker_id="drill", clock=clock, idle_sleep_s=0)
        worker.sync_tasks()

        tick(pipeline, names)  # the first batches go through
        before = table_counts(direct)
        proxy.down()
        for _ in range(12):  # a minute of five-second ticks with the database refusing connections
            tick(pipeline, names)
            try:
                worker.run_once()
            except Exception as exc:  # the worker's loop catches this and goes round again
                assert "connect" in str(exc).lower() or "closed" in str(exc).lower(), exc
            clock.advance(seconds=5)
        assert table_counts(direct) == before, "something was written while the database was unreachable"

        proxy.up()
        for _ in range(30):
            tick(pipeline, names)
            worker.run_once()
            clock.advance(seconds=5)
    proxy.down()
    counts = table_counts(direct)
    assert counts["mentions"] == counts["distinct"] == counts["classified"] == counts["routed"] == line_count(files)
    delivered = slack_keys(slack)
    assert set(delivered) == outbox_keys(direct) and counts.get("outbox_pending", 0) == 0
    assert max(delivered.values()) == 1, "an alert was sent twice"
    proxied.dispose()
    direct.dispose()
