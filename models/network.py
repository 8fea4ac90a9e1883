"""The encoder and the heads as one network: one pass gives every task's logits and each token's share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.encoder import mean_pool
from models.heads import TriageHeads


@dataclass(frozen=True, slots=True)
class Pass:
    """What one forward pass returns for a batch."""

    logits: dict[str, torch.Tensor]
    #: Token states after the last layer, float32, (batch, tokens, hidden).
    hidden: torch.Tensor
    mask: torch.Tensor
    #: The mean-pooled vector every head reads, float32, (batch, hidden).
    pooled: torch.Tensor | None = None


class TriageNet(nn.Module):
    """A transformer encoder, mean pooling and the linear triage heads."""

    def __init__(self, encoder: nn.Module, heads: TriageHeads) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Pass:
        """Encode a padded batch and apply the heads to its mean-pooled states."""
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        hidden = output.last_hidden_state.float()
        pooled = mean_pool(hidden, attention_mask)
        return Pass(logits=self.heads(pooled), hidden=hidden, mask=attention_mask, pooled=pooled)


def token_shares(result: Pass, heads: TriageHeads) -> dict[str, torch.Tensor]:
    """Return each token's exact additive share of every logit, (batch, tokens, classes).

    The heads are linear on the mean of token states, so logit = sum over tokens of
    (state . weight) / token count + bias; the shares sum to the logit less the bias. No gradient is needed.
    """
    mask = result.mask.unsqueeze(-1).float()
    per_token = result.hidden * mask / mask.sum(1, keepdim=True).clamp(min=1.0)
    return {
        "sentiment": per_token @ heads.sentiment.weight.t(),
        "complaint": per_token @ heads.complaint.weight.t(),
        "severity": per_token @ heads.severity.weight.t(),
    }


@dataclass(frozen=True, slots=True)
class Calibrated:
    """A batch's calibrated probabilities as NumPy arrays."""

    #: (batch, 3) over `SENTIMENTS`.
    sentiment: np.ndarray
    #: (batch,) probability of a complaint.
    complaint: np.ndarray
    #: (batch, 5) raw severity logits (only their order is read).
    severity_logits: np.ndarray


def calibrated(result: Pass, temperature: Mapping[str, float]) -> Calibrated:
    """Return the pass's sentiment and complaint probabilities with the heads file's temperatures applied."""
    return Calibrated(
        sentiment=torch.softmax(result.logits["sentiment"] / temperature["sentiment"], -1).numpy(),
        complaint=torch.sigmoid(result.logits["complaint"] / temperature["complaint"]).numpy(),
        severity_logits=result.logits["severity"].numpy(),
    )
