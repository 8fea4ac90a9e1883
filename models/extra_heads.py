"""Heads added after v1 on the same pooled vector: irony and needs-a-reply, shipped in their own small file.

They read the pooled output of the shipped encoder (adapters merged), so they cost one matrix-vector product per
post on top of the one encoder pass every head shares. `python -m models.fit_extra` fits them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.heads import HeadsUnavailable, dump_meta, load_state, meta_fields, read_weights, write_weights
from models.network import Pass

FORMAT = "brandmon-extra-heads"
#: The file that ships beside the v1 heads and goes with the built-in encoder.
BUILTIN_EXTRA_HEADS = Path(__file__).resolve().parent / "weights" / "minilm-l6-extra-v1.safetensors"
#: The file that goes with the shipped multilingual-e5 heads (`python -m models.fit_extra_e5` fits it).
BUILTIN_ML_EXTRA_HEADS = Path(__file__).resolve().parent / "weights" / "e5-small-extra-v1.safetensors"
TASKS: tuple[str, ...] = ("irony", "reply")


class ExtraHeads(nn.Module):
    """One logit per task (irony, reply) from the pooled vector; linear, so token shares stay exact."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.irony = nn.Linear(hidden_size, 1)
        self.reply = nn.Linear(hidden_size, 1)

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return each task's logit, shape (batch,)."""
        return {"irony": self.irony(pooled).squeeze(-1), "reply": self.reply(pooled).squeeze(-1)}


@dataclass(slots=True)
class ExtraMeta:
    """What the extra heads file records beside its tensors."""

    version: str
    encoder: str
    hidden_size: int
    #: The encoder variant the heads were fitted on ("int8", "bf16" or "fp32"): they read its pooled vector.
    encoder_precision: str = "int8"
    temperature: dict[str, float] = field(default_factory=lambda: {"irony": 1.0, "reply": 1.0})
    #: Irony at or above this turns positive-looking praise into the complaint it is (chosen on validation data).
    irony_threshold: float = 0.5
    #: ... and only when the complaint head sees a problem too (praise words around a complaint: sarcasm).
    irony_min_complaint: float = 0.3
    #: Reply probability at or above this means "respond".
    reply_threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise for the safetensors metadata block."""
        return dump_meta(self, FORMAT)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> ExtraMeta:
        """Parse `to_json`'s output; fields the file lacks take their defaults."""
        try:
            meta = cls(**meta_fields(cls, text, FORMAT))
            meta.hidden_size = int(meta.hidden_size)
            meta.temperature = {k: float(v) for k, v in meta.temperature.items()}
            for name in ("irony_threshold", "irony_min_complaint", "reply_threshold"):
                setattr(meta, name, float(getattr(meta, name)))
            return meta
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HeadsUnavailable(f"{source}: not a brandmon extra heads file: {exc}") from exc


def save_extra_heads(path: Path, heads: ExtraHeads, meta: ExtraMeta) -> None:
    """Write the heads and their metadata into one safetensors file."""
    write_weights(path, heads.state_dict(), meta.to_json())


def load_extra_heads(path: Path) -> tuple[ExtraHeads, ExtraMeta]:
    """Read an extra heads file; `HeadsUnavailable` says what is wrong with it."""
    tensors, metadata = read_weights(path, kind="extra heads", hint="run `python -m models.fit_extra`")
    meta = ExtraMeta.from_json(metadata, source=str(path))
    heads = ExtraHeads(meta.hidden_size)
    load_state(heads, tensors, path=path, hidden_size=meta.hidden_size)
    return heads.eval(), meta


@dataclass(frozen=True, slots=True)
class ExtraScores:
    """The extra heads' output for a batch, as NumPy arrays, one row per post."""

    irony: np.ndarray
    reply: np.ndarray
    #: Each token's share of the irony logit, (batch, tokens).
    irony_shares: np.ndarray


def score_extra(heads: ExtraHeads, meta: ExtraMeta, result: Pass) -> ExtraScores:
    """Return calibrated irony and reply probabilities and the irony token shares from one encoder pass."""
    if result.pooled is None:
        raise ValueError("the extra heads read the pooled vector; this pass has none")
    logits = heads(result.pooled)
    weights = result.mask.unsqueeze(-1).float()
    per_token = result.hidden * weights / weights.sum(1, keepdim=True).clamp(min=1.0)
    return ExtraScores(
        irony=torch.sigmoid(logits["irony"] / meta.temperature["irony"]).numpy(),
        reply=torch.sigmoid(logits["reply"] / meta.temperature["reply"]).numpy(),
        irony_shares=(per_token @ heads.irony.weight.t())[..., 0].numpy(),
    )
