"""API usage and spend per source per day, the sources migration, `brandmon sources`, and the sweep job."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import select

from core.settings import parse_settings
from core.storage import Database
from core.storage.schema import SourceStateRow
from core.storage.sources_tables import SourceUsageRow, UsageLine, record_usage, usage_since
from models.lexicon import LexiconClassifier
from monitor.cli import main
from monitor.pipeline import Pipeline
from monitor.scheduler import add_jobs
from sources.reddit import RedditSource
from sources.x import XSource
from tests.support.clock import Clock
from tests.support.sources import (
    no_network,
    reddit_secrets,
    replay,
    snowflake,
    x_json,
    x_page,
    x_post,
    x_secrets,
    x_user,
)

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = {
    "brands": [{"name": "Kestrel Mobile", "query": '"kestrel mobile" OR kestrel',
                "handles": {"x": "KestrelMobile", "reddit": "KestrelMobile_Support"}}],
    "sources": [
        {"name": "kestrel-x", "type": "x", "brand": "Kestrel Mobile", "options": {"kinds": ["search"]}},
        {"name": "kestrel-reddit", "type": "reddit", "brand": "Kestrel Mobile",
         "options": {"user_agent": "brandmon:test:0.1", "sweep_interval_s": 1800}},
    ],
    "slack": {"enabled": False},
}


def test_migration_creates_the_sources_tables(db: Database) -> None:
    assert {"source_usage", "mention_checks"} <= set(db.table_names())
    assert db.is_current()


def test_usage_adds_up_per_source_day_and_kind(db: Database) -> None:
    day = NOW.date()
    record_usage(db, source_name="kestrel-x", network="x", day=day,
                 lines=[UsageLine("post_read", 10, 1, 0.05), UsageLine("owned_read", 4, 1, 0.004)])
    record_usage(db, source_name="kestrel-x", network="x", day=day, lines=[UsageLine("post_read", 6, 1, 0.03)])
    record_usage(db, source_name="kestrel-x", network="x", day=day.replace(month=2),
                 lines=[UsageLine("post_read", 99, 1, 1)])
    with db.session() as session:
        rows = session.execute(select(SourceUsageRow).where(SourceUsageRow.kind == "post_read")).scalars().all()
        month = usage_since(session, day.replace(day=1))
    assert sorted((r.units, r.requests) for r in rows) == [(16, 2), (99, 1)]
    assert month["kestrel-x"].units_by_kind == {"post_read": 16, "owned_read": 4}
    assert month["kestrel-x"].cost_usd == pytest.approx(0.084)


def _pipeline(settings_data: dict[str, object], db: Database, clock: Clock) -> Pipeline:
    settings = parse_settings(settings_data, origin="test.yaml")
    built = {
        "kestrel-x": XSource(name="kestrel-x", brand="Kestrel Mobile", options={"kinds": ["search"]},
                             query=settings.brands[0].query, handles=settings.brands[0].handles,
                             secrets=x_secrets(), clock=clock),
        "kestrel-reddit": RedditSource(name="kestrel-reddit", brand="Kestrel Mobile",
                                       options={"user_agent": "brandmon:test:0.1", "sweep_interval_s": 1800},
                                       query=settings.brands[0].query, secrets=reddit_secrets(), clock=clock),
    }
    return Pipeline(settings, db, classifier=LexiconClassifier(), sources=built, notifiers={}, clock=clock)


def test_pipeline_poll_records_spend_and_cli_shows_it(sqlite_db: Database, tmp_path: Path) -> None:
    clock = Clock(NOW)
    pipeline = _pipeline({**CONFIG, "database_url": str(sqlite_db.url)}, sqlite_db, clock)
    author = x_user("2001", "alice_w")
    posts = [x_post(snowflake(NOW, n), f"kestrel mobile {n}", author) for n in range(3, 0, -1)]
    brand = {"data": {"id": "1500000000000000001", "name": "Kestrel Mobile", "username": "KestrelMobile"}}
    answers = [x_json("GET", "/2/users/by/username/KestrelMobile", 200, brand),  # once: its id goes in the cursor
               x_json("GET", "/2/tweets/search/recent", 200, x_page(posts, [author]))]
    with replay(answers, tmp_path, x_requests=True):
        outcome = pipeline.poll("kestrel-x")
    assert outcome.stored == 3
    with sqlite_db.session() as session:
        session.add(SourceStateRow(source_name="kestrel-reddit", cursor=None, consecutive_failures=3, exhausted=False,
                                   fatal_error="source 'kestrel-reddit': Reddit search: 401 bad credentials"))
    config = tmp_path / "brandmon.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "database_url": str(sqlite_db.url)}), encoding="utf-8")
    runner = CliRunner()
    shown = runner.invoke(main, ["sources", "-c", str(config), "--month", "2026-03"])
    assert shown.exit_code == 0, shown.output
    x_line = next(line for line in shown.output.splitlines() if line.startswith("kestrel-x"))
    assert x_line.split()[4:8] == ["ok", "3", "2", "$0.025"]  # 3 posts read at $0.005, one user lookup at $0.010
    reddit_line = next(line for line in shown.output.splitlines() if line.startswith("kestrel-reddit"))
    assert "DISABLED" in reddit_line and "401 bad credentials" in reddit_line
    assert "estimated spend since" in shown.output
    enabled = runner.invoke(main, ["sources", "-c", str(config), "enable", "kestrel-reddit"])
    assert enabled.exit_code == 0, enabled.output
    with sqlite_db.session() as session:
        assert session.get(SourceStateRow, "kestrel-reddit").fatal_error is None
    query = runner.invoke(main, ["sources", "-c", str(config), "query"])
    assert 'X:      "kestrel mobile" OR kestrel' in query.output
    assert 'Reddit: "kestrel mobile" OR kestrel' in query.output


def test_scheduler_sweeps_reddit_and_x(sqlite_db: Database) -> None:
    pipeline = _pipeline(CONFIG, sqlite_db, Clock(NOW))
    scheduler = BackgroundScheduler(timezone="UTC")
    ids = add_jobs(scheduler, pipeline)
    # X's developer terms require deleted posts to go too (issue 17); its sweep runs every 6 hours by default
    assert "sweep:kestrel-reddit" in ids and "sweep:kestrel-x" in ids
    assert scheduler.get_job("sweep:kestrel-x").trigger.interval.total_seconds() == 6 * 3600
    assert scheduler.get_job("sweep:kestrel-reddit").trigger.interval.total_seconds() == 1800


def test_build_sources_passes_query_handles_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.pipeline import build_sources

    settings = parse_settings({**CONFIG, "sources": [*CONFIG["sources"],  # type: ignore[list-item]
                                                     {"name": "r", "type": "replay", "brand": "Kestrel Mobile",
                                                      "options": {"path": "x.jsonl"}}]}, origin="t.yaml")
    built, errors = build_sources(settings, secrets=x_secrets())
    assert isinstance(built["kestrel-x"], XSource) and built["kestrel-x"].handle == "KestrelMobile"
    assert "r" in built
    assert "BRANDMON_REDDIT_CLIENT_ID" in errors["kestrel-reddit"]  # one broken network stops none
