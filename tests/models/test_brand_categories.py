"""`brands[].categories` in the config: validated, and learned by the classifier the pipeline builds."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from core.settings import ConfigError, parse_settings
from models.base import Post
from models.transformer import TransformerClassifier
from monitor.pipeline import build_classifier, learned_options

ROAMING: dict[str, Any] = {
    "name": "roaming",
    "description": "Using the phone abroad: roaming charges, add-ons, no data or calls in another country.",
    "examples": [
        "landed in Spain and my phone has no data at all",
        "why was I charged for roaming in France, I have the EU add-on",
        "the roaming pass did not activate in Portugal",
        "can't make calls while I'm in Italy",
        "out of bundle data charges while abroad again",
        "roaming in Greece is painfully slow",
    ],
    "weight": 0.65,
}


def settings_with(categories: list[dict[str, Any]], *, kind: str = "transformer") -> Any:
    return parse_settings({"brands": [{"name": "Acme", "query": "acme", "categories": categories}],
                           "classifier": {"kind": kind}}, origin="c.yaml")


@pytest.mark.parametrize(("change", "message"), [
    ({"examples": ROAMING["examples"][:4]}, "brands[0].categories[0].examples: List should have at least 5 items"),
    ({"examples": [f"post {n}" for n in range(21)]}, "List should have at most 20 items"),
    ({"weight": 1.5}, "brands[0].categories[0].weight: Input should be less than or equal to 1"),
    ({"name": "roaming abroad"}, "brands[0].categories[0].name: String should match pattern"),
    ({"examples": [*ROAMING["examples"][:5], " "]}, "examples[5] is empty"),
    ({"examples": [*ROAMING["examples"][:5], ROAMING["examples"][0]]}, "examples repeat"),
])
def test_a_bad_category_is_refused_with_its_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings_with([{**ROAMING, **change}])


def test_category_names_are_unique_per_brand() -> None:
    with pytest.raises(ConfigError, match=r"brands\[0\]: categories\[1\].name: duplicate category 'Roaming'"):
        settings_with([ROAMING, {**ROAMING, "name": "Roaming"}])


def test_the_classifier_options_carry_the_brands_categories() -> None:
    options = learned_options(settings_with([ROAMING]))
    assert options["model_categories"] is True
    assert options["brand_categories"] == {"Acme": [ROAMING]}


def test_a_classifier_that_cannot_learn_categories_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert learned_options(settings_with([ROAMING], kind="lexicon")) == {}
    assert "brands Acme define categories, which the lexicon classifier cannot learn" in caplog.text


def test_the_built_classifier_learns_the_brands_category() -> None:
    classifier = build_classifier(settings_with([ROAMING]))
    assert isinstance(classifier, TransformerClassifier)
    assert "roaming" in classifier.categories("Acme") and "roaming" not in classifier.categories("Other")
    [scores] = classifier.classify([Post("@acme no data since I landed in Lisbon, the roaming add-on is on", "en",
                                         "Acme")])
    assert scores.category == "roaming" and scores.category_prob is not None and scores.category_words
