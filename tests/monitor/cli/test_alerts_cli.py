"""`brandmon alerts test|incidents|retry` against a loopback Slack and a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from alerts.slack_loopback import Fault, SlackLoopback, message_as_text
from core.storage import Database
from core.storage.schema import OutboxRow
from monitor.cli import main
from tests.conftest import make_settings
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock


def write_config(tmp_path: Path, slack: SlackLoopback, database_url: str) -> Path:
    config = tmp_path / "brandmon.yaml"
    config.write_text(
        f"database_url: {database_url}\n"
        "brands:\n  - {name: Kestrel Mobile, query: kestrel}\n"
        f"slack:\n  base_url: {slack.base_url}\n"
        "  routes:\n"
        "    - {name: urgent, channel: '#care-urgent', min_urgency: 0.5}\n"
        "    - {name: complaints, channel: '#care-complaints', complaint: true}\n"
        "    - {name: also-urgent, channel: '#care-urgent', urgency_categories: [safety]}\n"
        "  spikes: {channel: '#care-spikes'}\n",
        encoding="utf-8",
    )
    return config


def test_alerts_test_sends_one_sample_to_each_channel(tmp_path: Path, slack: SlackLoopback, sqlite_url: str) -> None:
    config = write_config(tmp_path, slack, sqlite_url)
    runner = CliRunner()
    result = runner.invoke(
        main, ["alerts", "test", "-c", str(config)], env={"BRANDMON_SLACK_BOT_TOKEN": "xoxb-cli-secret"}
    )
    assert result.exit_code == 0, result.output
    assert sorted(m["channel_name"] for m in slack.all_messages()) == [
        "#care-complaints",
        "#care-spikes",
        "#care-urgent",
    ]
    assert result.output.count("ok ") == 3 and "xoxb-cli-secret" not in result.output
    shown = message_as_text(slack.all_messages()[0])
    assert "<!channel>" in shown and "<!channel>" not in str(slack.all_messages()[0]["blocks"])

    slack.faults.append(Fault(200, {"ok": False, "error": "not_in_channel"}))
    failed = runner.invoke(
        main,
        ["alerts", "test", "-c", str(config), "--channel", "#care-urgent"],
        env={"BRANDMON_SLACK_BOT_TOKEN": "xoxb-cli-secret"},
    )
    assert failed.exit_code == 1 and "FAILED #care-urgent" in failed.output and "not_in_channel" in failed.output


def test_incidents_are_listed_and_dead_messages_retried(
    tmp_path: Path, slack: SlackLoopback, sqlite_db: Database
) -> None:
    config = write_config(tmp_path, slack, str(sqlite_db.url))
    wired = Wired(sqlite_db, make_settings(), slack, Clock(T0))
    store(sqlite_db, [Post("no signal in Leeds since this morning"), Post("no signal in York since this morning")])
    wired.route()
    slack.faults.append(Fault(200, {"ok": False, "error": "invalid_blocks"}))
    wired.drain()
    with sqlite_db.session() as session:
        assert session.execute(select(OutboxRow.status).order_by(OutboxRow.id)).scalars().all() == ["dead", "sent"]
    runner = CliRunner()
    listed = runner.invoke(main, ["alerts", "incidents", "-c", str(config)])
    assert listed.exit_code == 0 and "cluster" in listed.output and "#care-urgent" in listed.output
    retried = runner.invoke(main, ["alerts", "retry", "-c", str(config)])
    assert retried.exit_code == 0 and "1 Slack messages queued again" in retried.output
    wired.clock.now = datetime.now(UTC) + timedelta(minutes=1)  # retry queues them for the real now
    wired.drain()
    with sqlite_db.session() as session:
        assert set(session.execute(select(OutboxRow.status)).scalars().all()) == {"sent"}
    assert len(slack.all_messages()) == 2
