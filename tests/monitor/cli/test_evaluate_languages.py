"""`brandmon evaluate FILE.jsonl` with a `lang` per row: per-language rows, and VADER only on English ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import models
from models.lexicon import LexiconClassifier
from monitor.cli.model_cmds import register


class EveryLanguageLexicon(LexiconClassifier):
    """The lexicon model under another name that claims every language, standing in for the transformer."""

    name = "every-language-lexicon"
    languages = None  # type: ignore[assignment]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    real = models.load_classifier

    def load(kind: str, **options: Any) -> Any:
        return EveryLanguageLexicon() if kind == "transformer" else real(kind)

    monkeypatch.setattr(models, "load_classifier", load)
    group = click.Group("brandmon")
    register(group)
    return group


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


ROWS = [
    {"text": "I love this, great service", "sentiment": "positive", "lang": "en"},
    {"text": "terrible, awful, I hate it", "sentiment": "negative", "lang": "en"},
    {"text": "the parcel came on tuesday", "sentiment": "neutral", "lang": "en"},
    {"text": "das ist schrecklich", "sentiment": "negative", "lang": "de"},
    {"text": "sehr gut, danke", "sentiment": "positive", "lang": "de"},
    {"text": "c'est nul", "sentiment": "negative", "lang": "fr"},
]


def test_rows_with_lang_get_a_row_per_language_and_vader_only_in_english(cli: click.Group, tmp_path: Path) -> None:
    team = _write(tmp_path / "team.jsonl", ROWS)
    result = CliRunner().invoke(cli, ["evaluate", str(team), "--json"])
    assert result.exit_code == 0, result.output
    datasets = json.loads(result.stdout)["datasets"]
    assert set(datasets) == {"team.jsonl", "team.jsonl [de]", "team.jsonl [en]", "team.jsonl [fr]"}
    models_of = {name: [report["model"] for report in reports] for name, reports in datasets.items()}
    assert models_of["team.jsonl [en]"] == ["every-language-lexicon", LexiconClassifier.name]
    assert models_of["team.jsonl [de]"] == models_of["team.jsonl [fr]"] == ["every-language-lexicon"]
    assert models_of["team.jsonl"] == ["every-language-lexicon"]  # VADER does not cover the whole mixed file
    counts = {name: reports[0]["tasks"]["sentiment"]["n"] for name, reports in datasets.items()}
    assert counts == {"team.jsonl": 6, "team.jsonl [en]": 3, "team.jsonl [de]": 2, "team.jsonl [fr]": 1}


def test_the_table_shows_the_language_rows(cli: click.Group, tmp_path: Path) -> None:
    team = _write(tmp_path / "team.jsonl", ROWS)
    result = CliRunner().invoke(cli, ["evaluate", str(team)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("team.jsonl [de]") and "every-language-lexicon" in line for line in lines)
    assert any(line.startswith("team.jsonl [en]") and "lexicon-vader" in line for line in lines)
    assert not any("[de]" in line and "lexicon-vader" in line for line in lines)


def test_a_file_without_lang_keeps_one_row_per_model(cli: click.Group, tmp_path: Path) -> None:
    team = _write(tmp_path / "plain.jsonl", [{k: v for k, v in row.items() if k != "lang"} for row in ROWS[:3]])
    result = CliRunner().invoke(cli, ["evaluate", str(team), "--json"])
    assert result.exit_code == 0, result.output
    datasets = json.loads(result.stdout)["datasets"]
    assert list(datasets) == ["plain.jsonl"]
    assert [report["model"] for report in datasets["plain.jsonl"]] == ["every-language-lexicon", LexiconClassifier.name]
