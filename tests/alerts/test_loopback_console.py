"""`slack.base_url: loopback`: messages are printed as Slack shows them and kept for `brandmon alerts log`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import common, main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(common, "_CONSOLE_SLACK", [])  # a fresh loopback for this test
    monkeypatch.delenv("BRANDMON_SLACK_BOT_TOKEN", raising=False)
    at = (datetime.now(UTC) - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({
        "id": "77", "network": "x", "brand": "Kestrel Mobile", "author_handle": "angry", "author_name": "Angry",
        "author_followers": 10, "lang": "en", "created_at": at, "url": "https://x.com/angry/status/77",
        "text": "Kestrel Mobile no signal all day, worst service ever &amp; nobody answers"}) + "\n", encoding="utf-8")
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'brandmon.db'}",
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "feed", "type": "replay", "brand": "Kestrel Mobile", "options": {"path": str(feed)}}],
        "classifier": {"kind": "lexicon"},
        "slack": {"base_url": "loopback", "loopback_log": str(tmp_path / "slack.jsonl"),
                  "routes": [{"name": "all", "channel": "#care", "min_urgency": 0.0}]},
    }), encoding="utf-8")
    return path


def test_loopback_prints_each_message_and_alerts_log_shows_it_again(config: Path, tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["check", "-c", str(config)]).exit_code == 0  # no token needed
    ran = CliRunner().invoke(main, ["backfill", "-c", str(config)])
    assert ran.exit_code == 0, ran.output
    assert "── Slack #care (new message)" in ran.output and "1 sent" in ran.output
    shown = CliRunner().invoke(main, ["alerts", "log", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "── Slack #care (new message)" in shown.output and "@angry" in shown.output
    assert f"1 messages kept in {tmp_path / 'slack.jsonl'}" in shown.output
    assert "0 messages kept" in CliRunner().invoke(main, ["alerts", "log", "-c", str(config), "--channel",
                                                          "#other"]).output
