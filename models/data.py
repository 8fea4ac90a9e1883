"""Read labelled posts: the shared benchmark data and a team's own JSON Lines files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from models.base import SENTIMENTS

#: Where the labelled public data lives, relative to the working directory (see shared/data/README.md).
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"
#: Benchmark name -> file pattern under the data folder; `{split}` is train, val or test.
BENCHMARKS: dict[str, str] = {
    "tweeteval": "sentiment/tweeteval-{split}.jsonl",
    "complaints": "complaints/complaints-{split}.jsonl",
}


class DataError(ValueError):
    """A labelled file is missing or has a bad line."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled post; a label the file does not give is None."""

    text: str
    sentiment: int | None = None
    complaint: bool | None = None
    severity: int | None = None
    #: The post's language (ISO 639-1) when the file gives one (`lang`); None: not given.
    lang: str | None = None


def benchmark_path(data_dir: Path, name: str, split: str) -> Path:
    """Return the file of benchmark `name`'s `split` under `data_dir`."""
    return data_dir / BENCHMARKS[name].format(split=split)


def data_available(data_dir: Path) -> bool:
    """Return whether every benchmark split exists under `data_dir`."""
    return all(
        benchmark_path(data_dir, name, split).is_file()
        for name in BENCHMARKS
        for split in ("train", "val", "test")
    )


def load_examples(path: Path, *, limit: int | None = None) -> list[Example]:
    """Read `text` plus any of `sentiment`, `complaint`, `severity` (and an optional `lang`) from a JSON Lines file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    examples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                examples.append(_parse(json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise DataError(f"{path}:{number}: {exc}") from exc
            if limit is not None and len(examples) >= limit:
                break
    if not examples:
        raise DataError(f"{path}: no labelled posts")
    return examples


def _parse(row: object) -> Example:
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        raise TypeError("each line must be an object with a string `text`")
    sentiment = row.get("sentiment")
    if sentiment is not None:
        if sentiment not in SENTIMENTS:
            raise ValueError(f"sentiment {sentiment!r} is not one of {', '.join(SENTIMENTS)}")
        sentiment = SENTIMENTS.index(sentiment)
    complaint = row.get("complaint")
    if complaint is not None and not isinstance(complaint, bool):
        raise ValueError(f"complaint must be true or false, got {complaint!r}")
    severity = row.get("severity")
    if severity is not None and (not isinstance(severity, int) or not 0 <= severity <= 4):
        raise ValueError(f"severity must be an integer 0-4, got {severity!r}")
    if sentiment is None and complaint is None and severity is None:
        raise ValueError("no label: give `sentiment` and/or `complaint`")
    lang = row.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise ValueError(f"lang must be a language code, got {lang!r}")
    return Example(text=row["text"], sentiment=sentiment, complaint=complaint, severity=severity, lang=lang)
