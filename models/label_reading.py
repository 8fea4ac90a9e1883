"""How often a person's blind reading agrees with a benchmark's sentiment labels, per language.

    python -m models.label_reading [--data-dir ../shared/data]

`models/checks/umsab-val-reading.jsonl` holds one reader's labels for a random sample of UMSAB val posts (30 Hindi,
20 Spanish; `random.Random(5).sample` of each language's rows), keyed by line number so the posts' text stays in
../shared/data. Each post was read without its label and labelled negative, neutral or positive; then the labels were
compared. A language whose labels a reader matches about one time in three, as chance would, has labels that say
little about its texts, and no model's figure on it measures sentiment.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.check_sets import CHECKS
from models.data import DEFAULT_DATA_DIR

READING = CHECKS / "umsab-val-reading.jsonl"


@dataclass(frozen=True, slots=True)
class Agreement:
    """How many of a language's read posts carry the label the reader gave."""

    lang: str
    agree: int
    n: int

    @property
    def share(self) -> float:
        """Return the share of read posts whose benchmark label is the reader's."""
        return self.agree / self.n if self.n else 0.0


def agreement(data_dir: Path = DEFAULT_DATA_DIR, reading: Path = READING) -> list[Agreement]:
    """Return the reader's agreement with UMSAB val's labels per language, sorted by language.

    Raises ValueError naming the line when a read post is not in the val file or is in another language.
    """
    path = data_dir / "sentiment-multilingual" / "umsab-val.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts: dict[str, list[int]] = {}
    for number, line in enumerate(reading.read_text(encoding="utf-8").splitlines(), start=1):
        read = json.loads(line)
        index = int(read["line"]) - 1
        if not 0 <= index < len(rows) or rows[index].get("lang") != read["lang"]:
            raise ValueError(f"{reading}:{number}: line {read['line']} of {path} is not a {read['lang']} post")
        tally = counts.setdefault(str(read["lang"]), [0, 0])
        tally[0] += int(rows[index]["sentiment"] == read["reader_sentiment"])
        tally[1] += 1
    return [Agreement(lang, agree, n) for lang, (agree, n) in sorted(counts.items())]


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.label_reading`."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    for found in agreement(args.data_dir):
        print(f"{found.lang}: the reader agrees with {found.agree} of {found.n} labels ({found.share:.0%}; "
              f"chance is about 33%)")


if __name__ == "__main__":
    main()
