"""Classifiers behind one `Classifier` interface; only this package imports torch and transformers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.registry import load_entry
from models.base import Classifier, Post, Scores

#: Name -> "module:Class"; imported lazily so the lexicon model needs no torch.
REGISTRY: dict[str, str] = {
    "lexicon": "models.lexicon:LexiconClassifier",
    "transformer": "models.transformer:TransformerClassifier",
    "multilingual": "models.multilingual:MultilingualClassifier",
}


class ModelUnavailable(RuntimeError):
    """The configured classifier cannot be loaded (missing package or files)."""


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """Return `KEY=VALUE` pairs as classifier options, each value read as YAML (as in the config file)."""
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"option {pair!r}: want KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def load_classifier(kind: str, **options: Any) -> Classifier:
    """Build the classifier registered under `kind` with `options`."""
    cls = load_entry(REGISTRY, kind, what="classifier", error=ModelUnavailable)
    return cls(**options)  # type: ignore[no-any-return]


__all__ = ["REGISTRY", "Classifier", "ModelUnavailable", "Post", "Scores", "load_classifier", "parse_options"]
