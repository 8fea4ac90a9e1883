"""`brandmon digest` on the demo data and on a config, the outbox summary, and the weekly scheduled job."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import func, select

from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow, OutboxRow
from models.lexicon import LexiconClassifier
from monitor.cli import main
from monitor.demo import DEMO_CONFIG
from monitor.digest.weeks import parse_week
from monitor.pipeline import Pipeline
from monitor.scheduler import JOB_DEFAULTS, add_jobs
from tests.conftest import make_settings
from tests.support.digest import BRAND, NOW, hand_week


def test_digest_works_on_the_demo_data_without_a_config(tmp_path: Path, monkeypatch: object) -> None:
    from monitor.demo.runner import run_demo

    demo = run_demo(workdir=tmp_path / "demo", show_alerts=False)
    url = f"sqlite:///{tmp_path / 'demo' / 'demo.db'}"
    # the demo's week ends now, so it spans two ISO weeks: take the one holding most of it (the outage's)
    written = [json.loads(path.with_suffix(".json").read_text(encoding="utf-8")) for path in demo.digests]
    label = max(written, key=lambda d: d["volume"]["total"])["week"]
    week = parse_week(label)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["digest", "--database-url", url, "--brand", BRAND, "--themes", "tfidf",
                                       "--week", label, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Slack   no digest.slack_channel configured" in result.output
    figures = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    db = Database(url)
    # the team's replies are stored as the brand's own posts; the digest counts only the customers'
    own = list(yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["brands"][0]["handles"].values())
    with db.session() as session:
        stored = session.execute(
            select(func.count()).select_from(MentionRow).join(ClassificationRow)
            .where(MentionRow.brand == BRAND, MentionRow.created_at >= week.start, MentionRow.created_at < week.end,
                   MentionRow.author_handle.not_in(own), ClassificationRow.matched_query.is_(True))).scalar()
        complaints = session.execute(
            select(func.count()).select_from(MentionRow).join(ClassificationRow)
            .where(MentionRow.brand == BRAND, MentionRow.created_at >= week.start, MentionRow.created_at < week.end,
                   MentionRow.author_handle.not_in(own), ClassificationRow.matched_query.is_(True),
                   ClassificationRow.complaint.is_(True))).scalar()
    db.dispose()
    assert figures["week"] == week.label and figures["volume"]["total"] == stored > 100
    assert figures["complaints"] == complaints == sum(len(t["mention_ids"]) for t in figures["themes"])
    assert {share["brand"] for share in figures["share_of_voice"]} == {BRAND, "Orbital Telecom", "Quokka Wireless"}
    assert figures["spikes"] and figures["response"]["items"] > 0
    html = out.read_text(encoding="utf-8")
    assert "Kestrel Mobile: weekly digest" in html and "<script" not in html.lower()


def _config(tmp_path: Path, url: str) -> Path:
    data = {
        "database_url": url,
        "brands": [{"name": BRAND, "query": "kestrel", "competitors": ["Orbital Telecom"],
                    "handles": {"x": "KestrelMobile"}},
                   {"name": "Orbital Telecom", "query": "orbital", "own": False}],
        "digest": {"slack_channel": "#marketing", "out_dir": str(tmp_path / "digests"), "theme_embedder": "tfidf"},
    }
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_digest_with_a_config_queues_one_slack_summary_per_week(tmp_path: Path, sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    hand_week(db)
    config = _config(tmp_path, sqlite_url)
    runner = CliRunner()
    first = runner.invoke(main, ["digest", "-c", str(config), "--week", "2026-W47"])
    assert first.exit_code == 0, first.output
    assert "summary queued for #marketing" in first.output
    assert (tmp_path / "digests" / "kestrel-mobile-2026-W47.html").is_file()
    again = runner.invoke(main, ["digest", "-c", str(config), "--week", "2026-W47"])
    assert again.exit_code == 0 and "queued before" in again.output
    quiet = runner.invoke(main, ["digest", "-c", str(config), "--week", "2026-W46", "--no-slack"])
    assert quiet.exit_code == 0 and "not queued (--no-slack)" in quiet.output
    with db.session() as session:
        rows = session.execute(select(OutboxRow)).scalars().all()
    assert [(r.kind, r.channel, r.dedupe_key) for r in rows] == [("slack", "#marketing", f"digest:{BRAND}:2026-W47")]
    payload = rows[0].payload
    assert payload["type"] == "digest" and payload["mentions"] == 11 and payload["competitors"][0]["share"] == 5 / 16
    assert payload["response"]["p50_min"] == 30 and payload["report_path"].endswith("kestrel-mobile-2026-W47.html")
    bad = runner.invoke(main, ["digest", "-c", str(config), "--brand", "Nobody"])
    assert bad.exit_code == 2 and "'Nobody' is not configured" in bad.output
    week = runner.invoke(main, ["digest", "-c", str(config), "--week", "47"])
    assert week.exit_code == 2 and "--week" in week.output
    db.dispose()


def test_weekly_job_reports_last_week_for_each_own_brand(tmp_path: Path, sqlite_db: Database) -> None:
    hand_week(sqlite_db)
    settings = make_settings(digest={"slack_channel": "#marketing", "out_dir": str(tmp_path / "out"),
                                     "theme_embedder": "tfidf", "schedule_day": "tue", "schedule_time": "07:30"})
    clock_now = NOW + timedelta(hours=1)  # Tuesday 24 Nov 2026: last full week is 2026-W47
    pipeline = Pipeline(settings, sqlite_db, classifier=LexiconClassifier(), sources={}, notifiers={},
                        clock=lambda: clock_now)
    scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    assert "digest" in add_jobs(scheduler, pipeline)
    job = scheduler.get_job("digest")
    fields = {field.name: str(field) for field in job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("tue", "7", "30")
    assert job.misfire_grace_time == 12 * 3600
    job.func()
    assert (tmp_path / "out" / "kestrel-mobile-2026-W47.html").is_file()
    assert not list((tmp_path / "out").glob("orbital*"))  # competitors get no digest of their own
    with sqlite_db.session() as session:
        keys = session.execute(select(OutboxRow.dedupe_key)).scalars().all()
    assert keys == [f"digest:{BRAND}:2026-W47"]
    disabled = make_settings(digest={"enabled": False})
    off = Pipeline(disabled, sqlite_db, classifier=LexiconClassifier(), sources={}, notifiers={})
    assert "digest" not in add_jobs(BackgroundScheduler(timezone="UTC"), off)
