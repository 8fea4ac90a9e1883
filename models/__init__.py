"""Classifiers behind one `Classifier` interface; only this package imports torch and transformers."""

from __future__ import annotations

from typing import Any

from core.registry import load_entry
from models.base import Classifier, Post, Scores

#: Name -> "module:Class"; imported lazily so the lexicon model needs no torch.
REGISTRY: dict[str, str] = {
    "lexicon": "models.lexicon:LexiconClassifier",
    "transformer": "models.transformer:TransformerClassifier",
}


class ModelUnavailable(RuntimeError):
    """The configured classifier cannot be loaded (missing package or files)."""


def load_classifier(kind: str, **options: Any) -> Classifier:
    """Build the classifier registered under `kind` with `options`."""
    cls = load_entry(REGISTRY, kind, what="classifier", error=ModelUnavailable)
    return cls(**options)  # type: ignore[no-any-return]


__all__ = ["REGISTRY", "Classifier", "ModelUnavailable", "Post", "Scores", "load_classifier"]
