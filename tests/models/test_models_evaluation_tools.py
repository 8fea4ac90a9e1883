"""The evaluation and bench helpers behind `python -m models.evaluation` and `python -m models.throughput`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from models import load_classifier, parse_options
from models.base import NEEDS_REPLY, SENTIMENTS, Classifier, Post, Scores
from models.check_sets import CHECKS, category_texts, figures
from models.data import load_examples
from models.evaluation import covers, evaluate_by_language, mean_over_languages
from models.taxonomy import BUILTIN_CATEGORIES
from models.throughput import mixed_texts
from tests.support.paths import DATA_DIR, ROOT


class _Echo(Classifier):
    """Says "negative" for every post whose text has "bad" in it, and which languages it saw."""

    name = "echo"
    languages = frozenset({"en", "es"})

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        self.seen.extend(p.language for p in posts)
        return [
            Scores("negative" if "bad" in p.text else "positive",
                   {s: (0.8 if (s == "negative") == ("bad" in p.text) else 0.1) for s in SENTIMENTS}, False, 0.1, 0,
                   0.0, "none")
            for p in posts
        ]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rows_with_a_language_get_a_row_per_language_and_only_covering_models(tmp_path: Path) -> None:
    path = _write(tmp_path / "mixed.jsonl", [
        {"text": "bad service", "sentiment": "negative", "lang": "en"},
        {"text": "great", "sentiment": "positive", "lang": "en"},
        {"text": "muy bad", "sentiment": "negative", "lang": "es"},
        {"text": "genial", "sentiment": "negative", "lang": "es"},
        {"text": "sehr bad", "sentiment": "negative", "lang": "de"},
    ])
    examples = load_examples(path)
    assert [e.lang for e in examples] == ["en", "en", "es", "es", "de"]
    echo, lexicon = _Echo(), load_classifier("lexicon")
    results = evaluate_by_language([echo, lexicon], examples, label="mixed", progress=False)
    assert echo.seen == ["en", "en", "es", "es", "de"]  # each post in its own language
    assert set(results) == {"mixed", "mixed [de]", "mixed [en]", "mixed [es]"}
    assert [r.model for r in results["mixed [en]"]] == ["echo", lexicon.name]
    assert [r.model for r in results["mixed [es]"]] == ["echo"]  # the lexicon model is English only
    assert results["mixed"] == [] and results["mixed [de]"] == []  # nobody covers German
    assert results["mixed [en]"][0].tasks["sentiment"].accuracy == 1.0
    assert results["mixed [es]"][0].tasks["sentiment"].accuracy == 0.5
    means = mean_over_languages(results)
    assert means[("mixed", "echo")] == pytest.approx(
        ((results["mixed [en]"][0].tasks["sentiment"].macro_f1 + results["mixed [es]"][0].tasks["sentiment"].macro_f1)
         / 2, 2)
    )
    assert covers(echo, "es") and not covers(lexicon, "es")


def test_a_benchmark_file_without_languages_is_read_as_english(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.jsonl", [{"text": "bad", "sentiment": "negative"}])
    echo = _Echo()
    results = evaluate_by_language([echo], load_examples(path), label="plain", progress=False)
    assert echo.seen == ["en"] and list(results) == ["plain"]
    evaluate_by_language([echo], load_examples(path), label="plain", progress=False, detect_language=True)
    assert echo.seen[-1] is None


def test_options_are_read_as_the_config_file_reads_them() -> None:
    assert parse_options(["precision=int8", "compact_memory=true", "batch_size=32", "languages=[es, fr]"]) == {
        "precision": "int8", "compact_memory": True, "batch_size": 32, "languages": ["es", "fr"]}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["precision"])


def test_mixed_texts_spread_english_evenly(tmp_path: Path) -> None:
    others = _write(tmp_path / "es.jsonl", [{"text": f"hola {i}", "sentiment": "neutral"} for i in range(3)])
    texts = mixed_texts(tmp_path / "no-data", 10, file=others, english_share=0.8)
    assert len(texts) == 10 and sum(t.startswith("hola") for t in texts) == 2
    assert mixed_texts(tmp_path / "no-data", 4, file=others, english_share=0.0) == ["hola 0", "hola 1", "hola 2",
                                                                                     "hola 0"]
    with pytest.raises(ValueError, match="english_share"):
        mixed_texts(tmp_path, 4, file=others, english_share=1.5)


def test_the_check_sets_are_labelled_with_known_names_and_ship_no_shared_text() -> None:
    texts, labels = category_texts()
    assert len(texts) == 74 and set(labels) <= {s.name for s in BUILTIN_CATEGORIES} | {"none"}
    rows = [json.loads(line) for line in (CHECKS / "needs_reply.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["needs_reply"] for r in rows} <= set(NEEDS_REPLY)
    # Rows from the Customer Support on Twitter sample carry its id only: its text stays in ../shared/data.
    assert all(("tweet_id" in r) != ("text" in r) for r in rows)
    eval_rows = load_examples(ROOT / "models" / "eval" / "complaints-es-fr-de.jsonl")
    assert {e.lang for e in eval_rows} == {"es", "fr", "de"} and all(e.complaint is not None for e in eval_rows)
    assert figures(["a", "b"], ["a", "a"], ["a", "b"]).macro_f1 == pytest.approx((2 / 3 + 0) / 2, abs=0.001)


@pytest.mark.skipif(not (DATA_DIR / "conversations" / "twcs-sample.csv").is_file(), reason="needs ../shared/data")
def test_the_needs_reply_ids_resolve_against_the_shared_sample() -> None:
    from models.check_sets import needs_reply_texts

    texts, labels = needs_reply_texts(DATA_DIR)
    assert len(texts) == len(labels) == 130 and all(t.strip() for t in texts)
