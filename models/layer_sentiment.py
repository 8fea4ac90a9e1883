"""Sentiment of the posts e5 reads, from its last layers: a linear head on the mean pools of e5's last N layers.

e5's other heads read the mean pool of its last layer. For sentiment, the last four layers together say more: a
logistic regression on their concatenated mean pools (UMSAB train, C chosen by 5-fold cross-validation on train)
scored UMSAB val macro-F1 0.594 averaged over the seven languages e5 serves, against 0.573 for the last layer
alone (README, "Multilingual scoring"). The head is still linear on means of token states, so each token's exact
share of a logit, summed over the layers, says which words drove it, as for the other heads.
`python -m models.fit_layer_sentiment` fits the shipped file and prints its figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.heads import HeadsUnavailable, dump_meta, meta_fields, read_weights, write_weights

FORMAT = "brandmon-layer-sentiment/1"
#: The shipped head for multilingual-e5-small, fitted by `python -m models.fit_layer_sentiment`.
BUILTIN_ML_LAYER_SENTIMENT = Path(__file__).resolve().parent / "weights" / "e5-small-sentiment-l4-v1.safetensors"


@dataclass(slots=True)
class LayerSentimentMeta:
    """What a layer sentiment file records beside its weights."""

    version: str
    encoder: str
    hidden_size: int
    #: How many of the encoder's last layers the head reads (their mean pools, last layer last).
    layers: int
    #: Softmax temperature fitted on validation logits.
    temperature: float = 1.0
    #: How it was fitted and what it scored (printed by `models.fit_layer_sentiment`).
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise for the safetensors metadata block."""
        return dump_meta(self, FORMAT)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> LayerSentimentMeta:
        """Parse `to_json`'s output."""
        try:
            meta = cls(**meta_fields(cls, text, FORMAT))
            meta.hidden_size, meta.layers, meta.temperature = int(meta.hidden_size), int(meta.layers), float(
                meta.temperature)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HeadsUnavailable(f"{source}: not a brandmon layer sentiment file: {exc}") from exc
        if meta.layers < 1 or meta.temperature <= 0:
            raise HeadsUnavailable(f"{source}: layers must be at least 1 and the temperature positive")
        return meta


class LayerSentiment:
    """Three sentiment logits from the concatenated mean pools of the last `meta.layers` layers."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, meta: LayerSentimentMeta) -> None:
        width = meta.layers * meta.hidden_size
        if weight.shape != (3, width) or bias.shape != (3,):
            raise ValueError(f"layer sentiment head of shape {tuple(weight.shape)} does not fit {meta.layers} layers "
                             f"of width {meta.hidden_size}")
        # one (3, hidden) block per layer, in the order the layers run
        self.weight = weight.float()
        self._blocks = self.weight.split(meta.hidden_size, dim=1)
        self.bias = bias.float()
        self.meta = meta

    @property
    def layers(self) -> int:
        """Return how many last layers the head reads."""
        return self.meta.layers

    def score(self, states: Sequence[torch.Tensor], mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the logits (batch, 3) and each token's share of them (batch, tokens, 3) for a batch.

        `states` are the last `layers` layers' token states, (batch, tokens, hidden) each, last layer last. With
        the pools the means of the token states, logit = sum over layers and tokens of W_l h_lt / n + b, so the
        shares sum to the logits less the bias.
        """
        if len(states) != self.layers:
            raise ValueError(f"the head reads {self.layers} layers, got {len(states)}")
        weights = mask.unsqueeze(-1).float()
        count = weights.sum(1, keepdim=True).clamp(min=1.0)
        shares = sum((state.float() * weights / count) @ block.t() for state, block in zip(states, self._blocks,
                                                                                         strict=True))
        assert isinstance(shares, torch.Tensor)
        return shares.sum(1) + self.bias, shares


def save_layer_sentiment(path: Path, weight: torch.Tensor, bias: torch.Tensor, meta: LayerSentimentMeta) -> None:
    """Write a layer sentiment head and its metadata into one safetensors file."""
    LayerSentiment(weight, bias, meta)  # refuse shapes that do not fit before writing
    write_weights(path, {"weight": weight, "bias": bias}, meta.to_json())


def load_layer_sentiment(path: Path, *, encoder: str | None = None,
                         hidden_size: int | None = None) -> LayerSentiment:
    """Read a layer sentiment file; `HeadsUnavailable` says what is wrong with it or why it does not fit."""
    tensors, metadata = read_weights(path, kind="layer sentiment head",
                                     hint="run `python -m models.fit_layer_sentiment`")
    meta = LayerSentimentMeta.from_json(metadata, source=str(path))
    if encoder is not None and meta.encoder != encoder:
        raise HeadsUnavailable(f"{path}: the layer sentiment head was fitted on {meta.encoder}, not {encoder}")
    if hidden_size is not None and meta.hidden_size != hidden_size:
        raise HeadsUnavailable(f"{path}: the layer sentiment head reads layers {meta.hidden_size} wide, "
                               f"the encoder's are {hidden_size}")
    try:
        return LayerSentiment(tensors["weight"], tensors["bias"], meta)
    except (KeyError, ValueError) as exc:
        raise HeadsUnavailable(f"{path}: {exc}") from exc


def layer_sentiment_head(path: str | Path | None, *, encoder: str, hidden_size: int,
                         enabled: bool = True) -> LayerSentiment | None:
    """Return the head a classifier uses: `path`, else the shipped one, else None (the last-layer head decides).

    A file given by name must exist and fit the encoder; `enabled` off keeps the last-layer sentiment head.
    """
    if not enabled:
        return None
    if path is None:
        if not BUILTIN_ML_LAYER_SENTIMENT.is_file():
            return None
        path = BUILTIN_ML_LAYER_SENTIMENT
    return load_layer_sentiment(Path(path).expanduser(), encoder=encoder, hidden_size=hidden_size)
