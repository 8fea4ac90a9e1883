"""`brandmon calibrate`: each route's threshold chosen on labelled data and written back into the config."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from core.settings import load_settings
from monitor.cli import main
from tests.support.streams import POSTS, write_config, write_stream

ROUTES = [{"name": "urgent", "channel": "#care", "brands": ["Acme"], "min_urgency": 0.0, "min_precision": 1.0}]


def _calibrate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["calibrate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_threshold_reaches_the_precision_and_is_written_back(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl")
    config = write_config(tmp_path / "brandmon.yaml", routes=ROUTES)
    before = config.read_text(encoding="utf-8")
    code, out, err = _calibrate("--stream", str(stream), "-c", str(config), "--write", "--json")
    assert code == 0, err
    [route] = json.loads(out)["routes"]
    # every own post alerted at 0 (2 of 5 need the team); the two that do score highest (lexicon: 0.5475, 0.4673)
    assert route["precision_before"] == 0.4 and route["recall_before"] == 1.0
    assert route["threshold"] == 0.4673 and route["reached"]
    assert route["precision_after"] == 1.0 and route["recall_after"] == 1.0
    assert load_settings(config).slack.routes[0].min_urgency == 0.4673
    changed = [(a, b) for a, b in zip(before.splitlines(), config.read_text(encoding="utf-8").splitlines(),
                                      strict=True) if a != b]
    assert changed == [("    min_urgency: 0.0", "    min_urgency: 0.4673")]


def test_without_write_the_config_is_left_alone(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl")
    config = write_config(tmp_path / "brandmon.yaml", routes=ROUTES)
    before = config.read_bytes()
    code, out, err = _calibrate("--stream", str(stream), "-c", str(config))
    assert code == 0, err
    assert "0 -> 0.4673" in out and "0.400 -> 1.000" in out and "run again with --write" in out
    assert config.read_bytes() == before


def test_a_precision_no_threshold_reaches_fails_and_keeps_the_threshold(tmp_path: Path) -> None:
    posts = [(text, brand, dict(labels)) for text, brand, labels in POSTS]
    posts[3][2].update(needs_reply="none", complaint=False)  # the top-scoring post needs nothing after all
    stream = write_stream(tmp_path / "stream.jsonl", posts)
    config = write_config(tmp_path / "brandmon.yaml", routes=ROUTES)
    before = config.read_bytes()
    code, out, _ = _calibrate("--stream", str(stream), "-c", str(config), "--write")
    assert code == 1
    assert "no threshold reaches precision 1.00" in out and "kept 0" in out
    assert config.read_bytes() == before


def test_a_config_without_min_precision_is_refused(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl")
    code, _, err = _calibrate("--stream", str(stream), "-c", str(write_config(tmp_path / "brandmon.yaml")))
    assert code == 2 and "no route states min_precision" in err
