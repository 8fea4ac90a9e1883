"""Score the hand-written check sets in models/checks with a classifier and print the figures.

    python -m models.check_sets [--json]

- `categories.jsonl`: 74 posts written for brandmon (not taken from any data set), each labelled with one built-in
  category or "none"; the category examples in `models/taxonomy.py` are different sentences.
- `needs_reply.jsonl`: 100 inbound tweets of the Customer Support on Twitter sample, by id only (their text stays
  in ../shared/data), labelled respond / thank / none by reading each one, plus 30 posts written for brandmon
  (chatter, news, ads, spam, thanks, questions).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.base import NEEDS_REPLY, Classifier, Post
from models.data import DEFAULT_DATA_DIR

CHECKS = Path(__file__).resolve().parent / "checks"


def _rows(name: str) -> list[dict[str, str]]:
    path = CHECKS / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def f1_of(y: np.ndarray, p: np.ndarray, label: object) -> float:
    """Return the F1 of class `label` for labels `y` and predictions `p`."""
    tp = float(((y == label) & (p == label)).sum())
    denom = float((y == label).sum() + (p == label).sum())
    return 0.0 if denom == 0 else 2 * tp / denom


@dataclass(frozen=True, slots=True)
class CheckFigures:
    """Accuracy, macro-F1 over the classes and per-class F1 on one check set."""

    n: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]

    def line(self) -> str:
        """Return the figures as one line."""
        per = " ".join(f"{k} {v:.2f}" for k, v in self.f1.items())
        return f"n {self.n} accuracy {self.accuracy:.3f} macro-F1 {self.macro_f1:.3f}  {per}"


def figures(labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> CheckFigures:
    """Return accuracy, macro-F1 over `classes` and per-class F1."""
    y, p = np.array(labels), np.array(predicted)
    per_class = {c: round(f1_of(y, p, c), 3) for c in classes}
    return CheckFigures(len(y), round(float((y == p).mean()), 3), round(float(np.mean(list(per_class.values()))), 3),
                        per_class)


def category_texts() -> tuple[list[str], list[str]]:
    """Return the category check set's texts and labels."""
    rows = _rows("categories.jsonl")
    return [r["text"] for r in rows], [r["category"] for r in rows]


def needs_reply_texts(data_dir: Path = DEFAULT_DATA_DIR) -> tuple[list[str], list[str]]:
    """Return the needs-a-reply check set's texts (ids resolved against the shared sample) and labels."""
    rows = _rows("needs_reply.jsonl")
    texts_by_id: dict[str, str] = {}
    if any("tweet_id" in r for r in rows):
        path = data_dir / "conversations" / "twcs-sample.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            texts_by_id = {r["tweet_id"]: r["text"] for r in csv.DictReader(handle)}
    texts = [r["text"] if "text" in r else texts_by_id[r["tweet_id"]] for r in rows]
    return texts, [r["needs_reply"] for r in rows]


def evaluate_categories(classifier: Classifier) -> CheckFigures:
    """Return figures of `classifier`'s `category` on the category check set."""
    texts, labels = category_texts()
    scores = classifier.classify([Post(text=t, language="en") for t in texts])
    predicted = [s.urgency_category if s.category is None else s.category for s in scores]
    return figures(labels, predicted, sorted(set(labels)))


def evaluate_needs_reply(classifier: Classifier, data_dir: Path = DEFAULT_DATA_DIR) -> CheckFigures:
    """Return figures of `classifier`'s `needs_reply` on the needs-a-reply check set."""
    texts, labels = needs_reply_texts(data_dir)
    scores = classifier.classify([Post(text=t, language="en") for t in texts])
    return figures(labels, [s.needs_reply or "none" for s in scores], NEEDS_REPLY)


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.check_sets`."""
    parser = argparse.ArgumentParser(description="Score the hand-written check sets.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--precision", choices=("auto", "int8", "bf16", "fp32"), default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from models.lexicon import LexiconClassifier
    from models.transformer import TransformerClassifier

    out = {}
    for label, classifier in (
        ("transformer, keyword categories", TransformerClassifier(precision=args.precision)),
        ("transformer, model_categories", TransformerClassifier(precision=args.precision, model_categories=True)),
        ("lexicon", LexiconClassifier()),
    ):
        out[f"{label}: {classifier.describe()}"] = {
            "categories": evaluate_categories(classifier),
            "needs_reply": evaluate_needs_reply(classifier, args.data_dir),
        }
    if args.json:
        print(json.dumps({model: {task: asdict(fig) for task, fig in tasks.items()} for model, tasks in out.items()},
                         indent=2))
        return
    for model, tasks in out.items():
        print(model)
        for task, fig in tasks.items():
            print(f"  {task:12s} {fig.line()}")


if __name__ == "__main__":
    main()
