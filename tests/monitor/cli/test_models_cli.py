"""`brandmon train`, `evaluate` and `bench classify` through click, on tiny models and files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from models.testing import labelled_rows, make_tiny_encoder, write_tiny_data
from monitor.cli.model_cmds import register
from tests.support.paths import ROOT


@pytest.fixture(scope="module")
def cli() -> click.Group:
    """A stand-in for the brandmon group, with a bench group as the real one has."""
    main = click.Group("brandmon")
    main.add_command(click.Group("bench"))
    register(main)
    return main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    return {"encoder": make_tiny_encoder(root / "encoder"), "data": write_tiny_data(root / "data"), "root": root}


def test_register_adds_the_commands(cli: click.Group) -> None:
    assert {"train", "evaluate", "bench"} <= set(cli.commands)
    bench = cli.commands["bench"]
    assert isinstance(bench, click.Group) and "classify" in bench.commands


def test_register_makes_a_bench_group_when_there_is_none() -> None:
    main = click.Group("brandmon")
    register(main)
    bench = main.commands["bench"]
    assert isinstance(bench, click.Group) and "classify" in bench.commands


def test_importing_the_commands_does_not_import_torch() -> None:
    code = "import sys, monitor.cli.model_cmds; sys.exit('torch' in sys.modules)"
    root = ROOT
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


def test_train_then_evaluate_benchmarks_as_json(cli: click.Group, tiny: dict[str, Path]) -> None:
    heads = tiny["root"] / "heads.safetensors"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["train", "--model", str(tiny["encoder"]), "--data-dir", str(tiny["data"]), "--output", str(heads),
         "--epochs", "1", "--batch-size", "8", "--eval-every", "2", "--seed", "3"],
    )
    assert result.exit_code == 0, result.output
    assert heads.is_file() and "saved" in result.stdout
    result = runner.invoke(
        cli,
        ["evaluate", "--model", str(tiny["encoder"]), "--heads", str(heads), "--data-dir", str(tiny["data"]), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["datasets"]
    assert set(report) == {"tweeteval-test", "complaints-test"}
    models = [entry["model"] for entry in report["tweeteval-test"]]
    assert models[0] == "encoder + brandmon heads v1" and models[1].startswith("lexicon-vader")
    sentiment = report["tweeteval-test"][0]["tasks"]["sentiment"]
    assert sentiment["n"] == 24 and set(sentiment["per_class_recall"]) == {"negative", "neutral", "positive"}
    assert 0.0 <= sentiment["ece"] <= 1.0
    assert {"complaint", "severity", "sentiment"} <= set(report["complaints-test"][0]["tasks"])


def test_train_without_data_says_where_it_looked(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code != 0 and "nowhere" in result.output and "not found" in result.output


def test_evaluate_a_team_file_prints_a_table(cli: click.Group, tmp_path: Path) -> None:
    team = tmp_path / "ours.jsonl"
    rows = [{"text": r["text"], "sentiment": r["sentiment"]} for r in labelled_rows(6)]
    rows += [
        {"text": "the charger caught fire", "complaint": True},
        {"text": "what time do you open", "complaint": False},
    ]
    team.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["evaluate", str(team), "--data-dir", str(tmp_path / "absent")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["data", "set", "task", "model"]
    assert any("ours.jsonl" in line and "sentiment" in line and "minilm-l6" in line for line in lines)
    assert any("complaint" in line and "lexicon-vader" in line for line in lines)


def test_evaluate_rejects_a_bad_label_with_its_line(cli: click.Group, tmp_path: Path) -> None:
    team = tmp_path / "bad.jsonl"
    team.write_text('{"text": "fine", "sentiment": "positive"}\n{"text": "meh", "sentiment": "angry"}\n')
    result = CliRunner().invoke(cli, ["evaluate", str(team), "--no-baseline"])
    assert result.exit_code != 0 and "bad.jsonl:2" in result.output and "angry" in result.output


def test_bench_classify_reports_speed_and_memory(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["bench", "classify", "--posts", "40", "--single", "10", "--batch-size", "16",
              "--data-dir", str(tmp_path / "absent"), "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["batched_posts"] == 40 and figures["single_posts"] == 10
    assert figures["batched_posts_per_s"] > 0 and figures["single_p99_ms"] >= figures["single_p50_ms"] > 0
    assert figures["peak_rss_mib"] > 100 and "minilm-l6" in figures["model"]
    assert "categories from the encoder" in figures["model"]  # every head the example config runs


def test_bench_classify_takes_classifier_options(cli: click.Group, tmp_path: Path) -> None:
    args = ["bench", "classify", "--posts", "16", "--single", "2", "--batch-size", "16", "--data-dir",
            str(tmp_path / "absent"), "--json"]
    keywords = CliRunner().invoke(cli, [*args, "--option", "model_categories=false"])
    assert keywords.exit_code == 0, keywords.output
    assert "keyword categories" in json.loads(keywords.stdout)["model"]
    bad = CliRunner().invoke(cli, [*args, "--option", "model_categories"])
    assert bad.exit_code == 2 and "want KEY=VALUE" in bad.output
    lexicon = CliRunner().invoke(cli, [*args, "--kind", "lexicon", "--option", "x=1"])
    assert lexicon.exit_code == 2 and "takes no options" in lexicon.output
