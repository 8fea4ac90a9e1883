"""`brandmon check` catches what would break `run`: one line per problem with its key path and a fix, exit non-zero.

Also: global options work after the subcommand (`brandmon sources query -c FILE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main

SECRETS = ("BRANDMON_X_BEARER_TOKEN", "BRANDMON_X_CONSUMER_KEY", "BRANDMON_X_CONSUMER_SECRET",
           "BRANDMON_X_ACCESS_TOKEN", "BRANDMON_X_ACCESS_TOKEN_SECRET", "BRANDMON_REDDIT_CLIENT_ID",
           "BRANDMON_REDDIT_CLIENT_SECRET",
           "BRANDMON_SLACK_BOT_TOKEN", "BRANDMON_DATABASE_URL")


@pytest.fixture(autouse=True)
def _no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, **changes: Any) -> Path:
    feed = tmp_path / "mentions.jsonl"
    feed.write_text("", encoding="utf-8")
    data: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'brandmon.db'}",
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "feed", "type": "replay", "brand": "Kestrel Mobile", "options": {"path": str(feed)}}],
        "classifier": {"kind": "lexicon"},
        "slack": {"enabled": False},
    }
    data.update(changes)
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _check(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["check", "-c", str(path)])
    return result.exit_code, [line.removeprefix(f"{path}: ") for line in result.output.splitlines()]


def test_a_good_config_is_ok(tmp_path: Path) -> None:
    code, lines = _check(_config(tmp_path))
    assert code == 0, lines
    assert lines[-1].startswith("ok")


def _source(kind: str, **options: Any) -> dict[str, Any]:
    return {"name": f"s-{kind}", "type": kind, "brand": "Kestrel Mobile", "options": options}


@pytest.mark.parametrize(("changes", "expected"), [
    ({"sources": [_source("redit")]}, "sources[0].type: 'redit' is not a source type; did you mean 'reddit'?"),
    ({"sources": [_source("replay", path="x.jsonl"), _source("x")]},
     "sources[1]: X needs BRANDMON_X_BEARER_TOKEN in the environment"),
    ({"sources": [_source("reddit", subreddits=["kestrel"])]},
     "sources[0]: Reddit needs BRANDMON_REDDIT_CLIENT_ID and BRANDMON_REDDIT_CLIENT_SECRET in the environment"),
    ({"classifier": {"kind": "lexicom"}}, "classifier.kind: 'lexicom' is not a classifier; did you mean 'lexicon'?"),
    ({"sources": [_source("replay")]}, "sources[0].options.path: a replay source needs the file to read"),
    ({"sources": [_source("replay", path="/nowhere/mentions.jsonl")]},
     "sources[0].options.path: /nowhere/mentions.jsonl does not exist"),
    ({"slack": {"enabled": True, "base_url": "https://slack.com/api/"}},
     "slack: Slack is enabled at slack.com but BRANDMON_SLACK_BOT_TOKEN is not in the environment"),
])
def test_each_mistake_is_one_line_with_its_key_path(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    code, lines = _check(_config(tmp_path, **changes))
    assert code != 0
    assert any(line.startswith(expected) for line in lines), lines
    assert lines[-1].startswith("brandmon: error:")


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    code, lines = _check(_config(tmp_path, sources=[_source("redit"), _source("x")], classifier={"kind": "nope"}))
    assert code != 0
    assert sum(line.startswith(("sources[", "classifier.")) for line in lines) == 3, lines


def test_loopback_slack_needs_no_token(tmp_path: Path) -> None:
    code, lines = _check(_config(tmp_path, slack={"enabled": True, "base_url": "loopback"}))
    assert code == 0, lines


def test_global_options_work_after_the_subcommand(tmp_path: Path) -> None:
    path = _config(tmp_path)
    before = CliRunner().invoke(main, ["sources", "-c", str(path), "query"])
    after = CliRunner().invoke(main, ["sources", "query", "-c", str(path)])
    assert before.exit_code == after.exit_code == 0, after.output
    assert after.output == before.output and "kestrel" in after.output
    verbose = CliRunner().invoke(main, ["check", "-c", str(path), "-v"])
    assert verbose.exit_code == 0, verbose.output
