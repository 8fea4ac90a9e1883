"""Classifiers behind one `Classifier` interface; only this package imports torch and transformers."""

from __future__ import annotations

import importlib
from typing import Any

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
    try:
        target = REGISTRY[kind]
    except KeyError:
        raise ModelUnavailable(f"unknown classifier {kind!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelUnavailable(f"classifier {kind!r} cannot be imported: {exc}") from exc
    cls = getattr(module, class_name)
    return cls(**options)  # type: ignore[no-any-return]


__all__ = ["REGISTRY", "Classifier", "ModelUnavailable", "Post", "Scores", "load_classifier"]
