"""Relevance filters from "not relevant" clicks: fitted, checked on held-out clicks, refused on little evidence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from models.base import RELEVANCE_KEY, Post
from models.heads import HeadsUnavailable
from models.relevance import (
    Click,
    RelevanceFilters,
    RelevanceOutcome,
    choose_threshold,
    load_filter,
    precision_recall,
    relevance_file,
    save_filter,
    train_relevance,
)
from models.transformer import TransformerClassifier
from tests.support.relevance import CUSTOMER, NAMESAKE, WIDTH, bag_of_words, clicks, texts


def _train(rows: Sequence[Click], **options: Any) -> RelevanceOutcome:
    return train_relevance(bag_of_words, "Kestrel Mobile", rows, encoder="fake", hidden_size=WIDTH, **options)


def test_the_threshold_is_where_precision_holds_at_every_higher_one() -> None:
    probs = torch.tensor([0.99, 0.95, 0.90, 0.80, 0.70, 0.60, 0.20])
    labels = torch.tensor([1, 1, 1, 0, 1, 1, 0])
    assert choose_threshold(probs, labels, 0.9) == pytest.approx(0.90)  # 0.80 lets a relevant post in: 3 of 4
    assert choose_threshold(probs, labels, 0.75) == pytest.approx(0.60)  # 5 of 6 hold 0.75 all the way down to 0.60
    assert choose_threshold(torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.9) is None
    assert precision_recall(probs, labels, 0.9) == (1.0, 0.6)
    assert precision_recall(probs, labels, 0.999) == (None, 0.0)


def test_a_filter_that_separates_namesakes_is_kept_and_round_trips(tmp_path: Path) -> None:
    outcome = _train(clicks(40, 40))
    assert outcome.accepted and outcome.refusal is None
    assert outcome.counts == {"not_relevant": 40, "relevant": 40}
    assert outcome.held_out == {"not_relevant": 10, "relevant": 10}
    assert outcome.precision is not None and outcome.precision >= 0.9 and outcome.recall >= 0.5
    path = relevance_file(tmp_path, "Kestrel Mobile")
    assert path == tmp_path / "relevance" / "kestrel-mobile.safetensors"
    path.parent.mkdir()
    save_filter(path, outcome.filter)
    again = load_filter(path, encoder="fake", hidden_size=WIDTH)
    assert again.meta.clicks == 80 and again.meta.precision == round(outcome.precision, 4)
    fresh = bag_of_words(texts(NAMESAKE, 6, start=500) + texts(CUSTOMER, 6, start=500))
    hidden = again.probability(fresh) >= again.meta.threshold
    assert hidden[:6].sum() >= 4 and not hidden[6:].any()
    with pytest.raises(HeadsUnavailable, match="fitted on fake"):
        load_filter(path, encoder="another-encoder", hidden_size=WIDTH)


def test_too_few_clicks_keep_no_filter() -> None:
    outcome = _train(clicks(40, 12))
    assert not outcome.accepted and outcome.filter is None
    assert "12 not-relevant clicks and 40 handled posts; at least 20 of each" in outcome.refusal


def test_clicks_that_do_not_separate_are_refused_by_the_precision_floor() -> None:
    # the same posts on both sides: whatever the filter hides, half of it is a real customer
    same = texts(CUSTOMER + NAMESAKE, 40)
    rows = [Click(id=i, text=same[i // 2], not_relevant=i % 2 == 0, language="en") for i in range(80)]
    outcome = _train(rows)
    assert not outcome.accepted and outcome.filter is None
    assert "precision" in outcome.refusal or "hides none" in outcome.refusal


def test_clicks_in_languages_the_model_does_not_read_are_left_out() -> None:
    rows = clicks(30, 30) + [Click(id=900 + i, text=f"el cernícalo {i}", not_relevant=True, language="es")
                             for i in range(5)]
    outcome = _train(rows, languages=frozenset({"en"}))
    assert outcome.skipped == 5 and outcome.counts == {"not_relevant": 30, "relevant": 30}


@pytest.fixture(scope="module")
def classifier() -> Iterator[TransformerClassifier]:
    yield TransformerClassifier()


def test_the_real_encoder_learns_namesakes_and_marks_only_that_brands_posts(
        classifier: TransformerClassifier) -> None:
    meta = classifier.heads_meta
    outcome = train_relevance(classifier.embed, "Kestrel Mobile", clicks(40, 40), encoder=meta.encoder,
                              hidden_size=meta.hidden_size, languages=classifier.languages)
    assert outcome.accepted and outcome.precision >= 0.9, outcome.refusal
    assert isinstance(classifier.relevance, RelevanceFilters) and not classifier.relevance
    classifier.relevance.set("Kestrel Mobile", outcome.filter)
    try:
        bird, customer = texts(NAMESAKE, 1, start=700)[0], texts(CUSTOMER, 1, start=700)[0]
        scores = classifier.classify([Post(bird, "en", "Kestrel Mobile"), Post(customer, "en", "Kestrel Mobile"),
                                      Post(bird, "en", "Orbital Telecom")])
        probability, threshold = (float(v) for v in scores[0].explanation[RELEVANCE_KEY])
        assert probability >= threshold == pytest.approx(outcome.threshold, abs=1e-4)
        assert RELEVANCE_KEY not in scores[1].explanation  # the customer is kept
        assert RELEVANCE_KEY not in scores[2].explanation  # another brand has no filter
        assert scores[0].sentiment == classifier.classify([Post(bird, "en", "Orbital Telecom")])[0].sentiment
    finally:
        classifier.relevance.set("Kestrel Mobile", None)
