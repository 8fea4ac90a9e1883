"""One contract for every registered classifier: one calibrated `Scores` per post, every head, in order."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from models import REGISTRY, Classifier, ModelUnavailable, Post, load_classifier
from models.base import SENTIMENTS, URGENCY_CATEGORIES

POSTS = [
    Post("worst service ever: my bill doubled and nobody answers, I hate this", language="en", brand="Kestrel Mobile"),
    Post("thanks for sorting out my roaming so quickly, great service", language="en", brand="Kestrel Mobile"),
    Post("what time does the store on main street open?", language="en"),
    Post("   "),
]


@pytest.fixture(scope="module", params=sorted(REGISTRY))
def classifier(request: pytest.FixtureRequest) -> Iterator[Classifier]:
    try:
        yield load_classifier(request.param)
    except ModelUnavailable as exc:  # an optional engine that is not installed must say so, not crash
        assert request.param in str(exc)
        pytest.skip(f"{request.param}: {exc}")


def test_every_registry_entry_names_an_importable_class() -> None:
    assert {"lexicon", "transformer"} <= set(REGISTRY)
    with pytest.raises(ModelUnavailable, match="unknown classifier 'nope'"):
        load_classifier("nope")


def test_one_score_per_post_in_order(classifier: Classifier) -> None:
    scores = classifier.classify(POSTS)
    assert len(scores) == len(POSTS)
    assert classifier.classify([]) == []
    again = classifier.classify(list(reversed(POSTS)))
    assert [s.sentiment for s in reversed(again)] == [s.sentiment for s in scores]


def test_every_head_is_calibrated_and_in_range(classifier: Classifier) -> None:
    for score in classifier.classify(POSTS[:3]):
        assert set(score.sentiment_probs) == set(SENTIMENTS)
        assert math.isclose(sum(score.sentiment_probs.values()), 1.0, abs_tol=1e-3)
        assert score.sentiment == max(score.sentiment_probs, key=lambda k: score.sentiment_probs[k])
        assert 0.0 <= score.complaint_prob <= 1.0
        assert 0 <= score.severity <= 4
        assert (score.severity > 0) <= score.complaint
        assert 0.0 <= score.urgency_score <= 1.0
        assert score.urgency_category in URGENCY_CATEGORIES


def test_the_clear_cases_come_out_right(classifier: Classifier) -> None:
    bill, thanks, _ = classifier.classify(POSTS[:3])
    assert bill.sentiment == "negative"
    assert thanks.sentiment == "positive"
    assert thanks.complaint_prob < bill.complaint_prob


def test_an_empty_post_goes_to_a_human_with_a_reason(classifier: Classifier) -> None:
    (empty,) = classifier.classify(POSTS[3:])
    assert empty.needs_human
    assert empty.needs_human_reason
