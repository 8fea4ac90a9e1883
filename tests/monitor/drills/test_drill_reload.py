"""Fault drill: a config reload with a broken file keeps the old config running and reports the error."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from core.settings import load_settings
from core.storage import Database
from core.storage.schema import MentionRow
from models.lexicon import LexiconClassifier
from monitor.pipeline import Pipeline
from monitor.scheduler import JOB_DEFAULTS, add_jobs, reload_jobs
from tests.support.drills import settings_for, streams
from tests.support.processes import Processes
from tests.support.processes import wait_for as settle

BROKEN = "brands:\n  - name: Kestrel Mobile\n    query: [unclosed\n"


def write(path: Path, data: dict[str, object]) -> None:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_reload_keeps_the_old_jobs_on_a_broken_file_and_swaps_on_a_good_one(
        sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = streams(tmp_path, sources=2, per_source=5)
    url = str(sqlite_db.url)
    config = tmp_path / "brandmon.yaml"
    first = settings_for(url, files[:1]).model_dump(mode="json")
    write(config, first)

    def build() -> Pipeline:
        return Pipeline.from_settings(load_settings(config), sqlite_db, classifier=LexiconClassifier())

    scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    scheduler.start(paused=True)  # jobs are added and swapped, none runs
    try:
        current = build()
        add_jobs(scheduler, current)
        before = sorted(job.id for job in scheduler.get_jobs())
        assert "poll:bench-0" in before and "poll:bench-1" not in before

        config.write_text(BROKEN, encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="monitor.scheduler"):
            kept = reload_jobs(scheduler, current, build)
        assert kept is current
        assert sorted(job.id for job in scheduler.get_jobs()) == before
        [record] = [r for r in caplog.records if "config reload failed" in r.getMessage()]
        assert str(config) in record.getMessage() and "invalid YAML" in record.getMessage()

        write(config, settings_for(url, files).model_dump(mode="json"))
        swapped = reload_jobs(scheduler, current, build)
        assert swapped is not current and sorted(swapped.sources) == ["bench-0", "bench-1"]
        assert "poll:bench-1" in {job.id for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def mentions(db: Database, source: str) -> int:
    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(MentionRow)
                                   .where(MentionRow.source_name == source)).scalar_one())


@pytest.mark.slow
def test_sighup_with_a_broken_file_reports_it_and_keeps_running(tmp_path: Path, processes: Processes) -> None:
    files = streams(tmp_path, sources=2, per_source=30)
    url = f"sqlite:///{tmp_path / 'reload.db'}"
    config = tmp_path / "brandmon.yaml"
    data = settings_for(url, files[:1], batch_size=5, slack_enabled=False,
                        scheduler={"classify_interval_s": 0.5, "route_interval_s": 0.5, "deliver_interval_s": 0.5})
    good = data.model_dump(mode="json")
    good["sources"][0]["poll_interval_s"] = 0.5
    write(config, good)
    env = {k: v for k, v in os.environ.items() if k != "BRANDMON_DATABASE_URL"} | {"PYTHONUNBUFFERED": "1"}
    child = processes.start([sys.executable, "-m", "monitor", "run", "-c", str(config)], env=env)
    db = Database(url)
    try:
        settle(lambda: "SIGHUP reloads" in child.stdout() or not child.alive(), what="brandmon run starting")
        assert child.alive(), child.stderr()
        settle(lambda: mentions(db, "bench-0") > 0, what="the first poll")
        config.write_text(BROKEN, encoding="utf-8")
        child.send(signal.SIGHUP)
        settle(lambda: "config reload failed" in child.stderr(), what="the failed reload being reported")
        # the old config keeps polling its source to the end of the file
        settle(lambda: mentions(db, "bench-0") == 30, what="the old config polling to the end")
        assert child.alive()

        fixed = dict(good)
        fixed["sources"] = [*good["sources"], {**good["sources"][0], "name": "bench-1",
                                                "options": {**good["sources"][0]["options"], "path": str(files[1])}}]
        write(config, fixed)
        child.send(signal.SIGHUP)
        settle(lambda: mentions(db, "bench-1") == 30, what="the reloaded config polling the new source")
        child.stop(signal.SIGINT)
    finally:
        db.dispose()
    log = child.stderr()
    assert "config reload failed; the previous config keeps running" in log
    assert f"{config}: line 4, column 1: invalid YAML" in log
    assert "config reloaded: 2 sources" in log
