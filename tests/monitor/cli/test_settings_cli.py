"""Config errors name file, key path and reason; the CLI lists every command and exits non-zero on bad config."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from config import EXAMPLE_CONFIG
from core.settings import ConfigError, Secrets, load_settings
from core.storage import Database
from monitor.cli import main
from monitor.queue.languages import saved_replies_in
from monitor.queue.replies import LENGTH_LIMITS, check_reply, render_saved_reply
from tests.support.processes import Processes
from tests.support.processes import wait_for as settle

EXPECTED_COMMANDS = {"init", "run", "demo", "check", "bench"}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def example() -> dict:
    return yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRANDMON_DATABASE_URL", raising=False)
    settings = load_settings(EXAMPLE_CONFIG)
    assert settings.database_url == "sqlite:///brandmon.db"
    assert [b.name for b in settings.brands if b.own] == ["Kestrel Mobile"]


def test_the_example_saved_reply_answers_in_the_posts_language(sqlite_db: Database) -> None:
    settings = load_settings(EXAMPLE_CONFIG)
    brand = next(b for b in settings.brands if b.own)
    greetings = {"es": "Hola Ana, sentimos", "fr": "Bonjour Ana, désolés", "de": "Hallo Ana, es tut",
                 "it": "Hi Ana, sorry", None: "Hi Ana, sorry"}  # no Italian variant: the main text
    for language, greeting in greetings.items():
        [saved] = [s for s in saved_replies_in(sqlite_db, settings.queue.saved_replies, network="x", kind="respond",
                                               brand=brand.name, language=language, default_language=brand.language)
                   if s.name == "outage-sorry"]
        assert saved.language == (language if language in ("es", "fr", "de") else None)
        text = render_saved_reply(saved.text, author_name="Ana García", handle="ana_g", brand=brand.name)
        assert text.startswith(greeting) and text.endswith("– Kestrel Mobile"), text
        for network in LENGTH_LIMITS:
            assert check_reply(text, network).ok, (language, network)


def test_a_bad_value_names_file_key_path_and_reason(tmp_path: Path) -> None:
    data = example()
    data["brands"][1]["query"] = ""
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: brands[1].query: ")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["sources"][0].update(brand="Nobody"), "sources[0].brand: 'Nobody' is not a configured brand"),
        (lambda d: d["sla"].update(timezone="Mars/Olympus"), "sla.timezone: Value error, unknown time zone"),
        (lambda d: d["slack"]["routes"][0].update(min_urgency=3), "slack.routes[0].min_urgency"),
        (lambda d: d.update(surprise=1), "surprise: Extra inputs are not permitted"),
        (lambda d: d["slack"].update(bot_token="xoxb-123"), "slack.bot_token: secrets are never stored"),
    ],
)
def test_each_kind_of_bad_config_is_reported_where_it_is(tmp_path: Path, mutate, expected: str) -> None:
    data = example()
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, data))
    assert expected.replace("Value error, ", "") in str(caught.value)
    assert "xoxb-123" not in str(caught.value)


def test_broken_yaml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: invalid YAML"):
        load_settings(path)


def test_database_url_precedence_flag_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, example())
    monkeypatch.setenv("BRANDMON_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings(path).database_url == "sqlite:///from-env.db"
    assert load_settings(path, database_url="sqlite:///flag.db").database_url == "sqlite:///flag.db"


def test_secrets_come_from_the_environment_and_never_print() -> None:
    secrets = Secrets.from_env({"BRANDMON_SLACK_BOT_TOKEN": "xoxb-very-secret"})
    assert secrets.slack_bot_token is not None
    assert secrets.slack_bot_token.get_secret_value() == "xoxb-very-secret"
    assert "xoxb-very-secret" not in repr(secrets) and "xoxb-very-secret" not in str(secrets)


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed >= EXPECTED_COMMANDS


def test_init_writes_a_starter_config_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "brandmon.yaml"
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--path", str(target)]).exit_code == 0
    assert load_settings(target).brands
    refused = runner.invoke(main, ["init", "--path", str(target)])
    assert refused.exit_code != 0 and "already exists" in refused.output


def test_bad_config_prints_one_clear_line_and_exits_non_zero(tmp_path: Path, processes: Processes) -> None:
    data = example()
    data["brands"][1]["competitors"] = ["Nobody"]
    path = write(tmp_path, data)
    child = processes.start([sys.executable, "-m", "monitor", "check", "-c", str(path)])
    settle(lambda: not child.alive(), what="brandmon check exiting")
    assert child.process.returncode == 2
    lines = child.stderr().strip().splitlines()
    assert lines == [f"brandmon: error: {path}: brands[1].competitors: 'Nobody' is not a configured brand"]
