"""The built-in taxonomy learned from real complaints: a linear head on the encoder's pooled vector.

Prototypes built from each category's description and examples (`models/categories.py`) place written sentences
well, but real complaints to brands badly: on the labelled train complaints of `models/checks` (500 tweets of the
complaints set, each given its category by reading it) MiniLM's prototypes scored macro-F1 0.131 and the keyword
rules 0.295 in 5-fold cross-validation. A logistic regression on the same pooled vectors, trained on those labels,
scored 0.389 (e5's vectors: 0.494). So the built-in categories of a complaint come from this head; a brand's own
categories, and the built-in ones the brand's corrections taught, still come from prototypes (few-shot, learned at
start). `python -m models.fit_categories` fits the shipped files and prints their validation figures.

The head reads the unit pooled vector, and the pooled vector is the mean of the token states, so each token's
exact share of a category's logit says which words drove it (as the other heads' shares do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.heads import HeadsUnavailable, dump_meta, meta_fields, read_weights, write_weights

FORMAT = "brandmon-category-head/1"
WEIGHTS = Path(__file__).resolve().parent / "weights"
#: The shipped heads: one per encoder, fitted by `python -m models.fit_categories`.
BUILTIN_CATEGORY_HEAD = WEIGHTS / "minilm-l6-categories-v1.safetensors"
BUILTIN_ML_CATEGORY_HEAD = WEIGHTS / "e5-small-categories-v1.safetensors"


@dataclass(slots=True)
class CategoryHeadMeta:
    """What a category head file records beside its weights."""

    version: str
    encoder: str
    hidden_size: int
    #: The built-in category names, in the order of the weight rows.
    names: list[str]
    #: How it was fitted and what it scored on validation data (printed by `models.fit_categories`).
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise for the safetensors metadata block."""
        return dump_meta(self, FORMAT)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> CategoryHeadMeta:
        """Parse `to_json`'s output."""
        try:
            meta = cls(**meta_fields(cls, text, FORMAT))
            meta.hidden_size = int(meta.hidden_size)
            meta.names = [str(n) for n in meta.names]
            return meta
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HeadsUnavailable(f"{source}: not a brandmon category head file: {exc}") from exc


@dataclass(frozen=True, slots=True)
class LearnedScores:
    """The head's output for a batch: probabilities (batch, categories) and token shares (batch, tokens, categories)."""

    probs: np.ndarray
    shares: np.ndarray


class LearnedCategories:
    """A linear softmax head over the built-in categories on the unit pooled vector."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, meta: CategoryHeadMeta) -> None:
        if weight.shape != (len(meta.names), meta.hidden_size) or bias.shape != (len(meta.names),):
            raise ValueError(f"category head of shape {tuple(weight.shape)} does not fit {len(meta.names)} names "
                             f"and hidden size {meta.hidden_size}")
        self.weight = weight.float()
        self.bias = bias.float()
        self.meta = meta
        self.names: tuple[str, ...] = tuple(meta.names)

    def score(self, hidden: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor) -> LearnedScores:
        """Return the category probabilities of a batch and each token's share of every category's logit.

        With u = pooled / |pooled| and pooled the mean of the token states h_t, logit = W u + b, so token t's
        share is W h_t / (n |pooled|); the bias is the part no word carries.
        """
        pooled = pooled.float()
        norm = pooled.norm(dim=-1).clamp(min=1e-6)
        logits = (pooled / norm[:, None]) @ self.weight.t() + self.bias
        weights = mask.unsqueeze(-1).float()
        count = weights.sum(1, keepdim=True).clamp(min=1.0)
        scaled = hidden.float() * weights / count / norm[:, None, None]
        return LearnedScores(torch.softmax(logits, dim=-1).numpy(), (scaled @ self.weight.t()).numpy())


def save_category_head(path: Path, weight: torch.Tensor, bias: torch.Tensor, meta: CategoryHeadMeta) -> None:
    """Write a category head and its metadata into one safetensors file."""
    write_weights(path, {"weight": weight, "bias": bias}, meta.to_json())


def load_category_head(path: Path, *, encoder: str | None = None, hidden_size: int | None = None,
                       names: Sequence[str] | None = None) -> LearnedCategories:
    """Read a category head file; `HeadsUnavailable` says what is wrong with it or why it does not fit."""
    tensors, metadata = read_weights(path, kind="category head", hint="run `python -m models.fit_categories`")
    meta = CategoryHeadMeta.from_json(metadata, source=str(path))
    if encoder is not None and meta.encoder != encoder:
        raise HeadsUnavailable(f"{path}: the category head was fitted on {meta.encoder}, not {encoder}")
    if hidden_size is not None and meta.hidden_size != hidden_size:
        raise HeadsUnavailable(f"{path}: the category head is {meta.hidden_size} wide, the encoder {hidden_size}")
    unknown = set(meta.names) - set(names) if names is not None else set()
    if unknown:
        raise HeadsUnavailable(f"{path}: the category head scores categories that are not built in: {sorted(unknown)}")
    try:
        return LearnedCategories(tensors["weight"], tensors["bias"], meta)
    except (KeyError, ValueError) as exc:
        raise HeadsUnavailable(f"{path}: {exc}") from exc


def learned_head(path: str | Path | None, *, builtin: Path | None, encoder: str, hidden_size: int,
                 enabled: bool = True) -> LearnedCategories | None:
    """Return the category head a classifier uses: `path`, else the shipped one for its encoder, else None.

    None (prototypes place every category) when `enabled` is off or no head ships for the encoder; a file given by
    name must exist and fit the encoder.
    """
    if not enabled:
        return None
    if path is None:
        if builtin is None or not builtin.is_file():
            return None
        path = builtin
    from models.base import URGENCY_CATEGORIES

    return load_category_head(Path(path).expanduser(), encoder=encoder, hidden_size=hidden_size,
                              names=URGENCY_CATEGORIES)
