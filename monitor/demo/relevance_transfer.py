"""Measure what the brands' relevance filters on multilingual-e5's vectors do to posts in other languages.

    python -m monitor.demo.relevance_set --out /tmp/relset --brand AmazonHelp=amazon ...
    (set classifier.kind: multilingual in /tmp/relset/brandmon.yaml)
    brandmon train --relevance -c /tmp/relset/brandmon.yaml
    python -m monitor.demo.relevance_transfer -c /tmp/relset/brandmon.yaml

The clicks of `relevance_set` are English, so this asks how e5's filter carries to other languages: the share of
UMSAB val tweets in each non-English language (off-topic for every brand: those naming the brand are left out) it
marks not relevant, and the share of the 45 Spanish, French and German complaints written for brandmon
(models/eval/complaints-es-fr-de.jsonl, none naming a brand) it marks, each addressed to the brand as "@user ..."
(as `relevance_set` writes the customers' handles): those it marks it would hide from the team.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from core.settings import load_settings
from models import Post
from models.base import RELEVANCE_KEY, Scores
from monitor.pipeline import build_classifier

ROOT = Path(__file__).resolve().parents[2]
UMSAB = ROOT / ".." / "shared" / "data" / "sentiment-multilingual" / "umsab-val.jsonl"
COMPLAINTS = ROOT / "models" / "eval" / "complaints-es-fr-de.jsonl"


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def marked_shares(classify: Callable[[Sequence[Post]], list[Scores]], brand: str, word: str,
                  rows: Sequence[dict[str, object]], *, prefix: str = "") -> dict[str, float]:
    """Return, per language, the share of `rows` (not naming `word`; `prefix` put first) that `brand`'s filters mark."""
    by_language: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        text, language = str(row["text"]), str(row["lang"])
        if language != "en" and word not in text.casefold():
            by_language[language].append(prefix + text)
    shares = {}
    for language, texts in sorted(by_language.items()):
        scores = classify([Post(text, brand=brand) for text in texts])
        shares[language] = sum(RELEVANCE_KEY in s.explanation for s in scores) / len(texts)
    return shares


def main(argv: Sequence[str] | None = None) -> None:
    """Print, per own brand, the share of off-topic tweets and of customers' complaints its filters mark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    classifier = build_classifier(settings)
    umsab, complaints = _rows(UMSAB), [row for row in _rows(COMPLAINTS) if row.get("complaint")]
    for brand in (b for b in settings.brands if b.own):
        word = brand.query.split()[0].strip('"()').casefold()
        off_topic = marked_shares(classifier.classify, brand.name, word, umsab)
        customers = marked_shares(classifier.classify, brand.name, word, complaints, prefix="@user ")
        print(f"{brand.name}: UMSAB val off-topic marked "
              + ", ".join(f"{lang} {share:.2f}" for lang, share in off_topic.items())
              + "; complaints marked " + ", ".join(f"{lang} {share:.2f}" for lang, share in customers.items()))


if __name__ == "__main__":
    main()
