"""The blind-reading check compares a reader's labels with a benchmark's, per language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.label_reading import READING, agreement


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_agreement_counts_matching_labels_per_language(tmp_path: Path) -> None:
    _write(tmp_path / "sentiment-multilingual" / "umsab-val.jsonl", [
        {"text": "genial", "sentiment": "positive", "lang": "es"},
        {"text": "fatal", "sentiment": "negative", "lang": "es"},
        {"text": "kya hua", "sentiment": "positive", "lang": "hi"},
    ])
    reading = _write(tmp_path / "reading.jsonl", [
        {"line": 1, "lang": "es", "reader_sentiment": "positive"},
        {"line": 2, "lang": "es", "reader_sentiment": "neutral"},
        {"line": 3, "lang": "hi", "reader_sentiment": "neutral"},
    ])
    found = {a.lang: (a.agree, a.n) for a in agreement(tmp_path, reading)}
    assert found == {"es": (1, 2), "hi": (0, 1)}


def test_a_line_in_another_language_is_refused_with_its_place(tmp_path: Path) -> None:
    _write(tmp_path / "sentiment-multilingual" / "umsab-val.jsonl",
           [{"text": "x", "sentiment": "neutral", "lang": "fr"}])
    reading = _write(tmp_path / "reading.jsonl", [{"line": 1, "lang": "de", "reader_sentiment": "neutral"}])
    with pytest.raises(ValueError, match=r"reading\.jsonl:1: line 1 .* is not a de post"):
        agreement(tmp_path, reading)


def test_the_shipped_reading_matches_the_shared_val_file() -> None:
    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (data / "sentiment-multilingual" / "umsab-val.jsonl").is_file():
        pytest.skip("../shared/data is not beside this checkout")
    found = {a.lang: a for a in agreement(data, READING)}
    assert found["hi"].n == 30 and found["es"].n == 20
    assert found["es"].share > 0.8 > 0.5 > found["hi"].share
