"""The encoder and the heads as one network: one pass gives every task's logits and each token's share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.encoder import mean_pool
from models.heads import TriageHeads

#: Posts per encoder pass: a batch of 64 tweets padded to its longest is about 45% padding, four length-sorted
#: passes of 16 about 10%. On 2,000 TweetEval test tweets (bf16, one thread) that ran 1.2-1.3x faster than one
#: pass of 64 and than an exact split by padding cost, whose many batch shapes each cost oneDNN a new kernel.
PASS_ROWS = 16
#: Passes are padded to a multiple of this many tokens, so a few batch shapes (and compiled kernels) recur.
WIDTH_MULTIPLE = 8


@dataclass(frozen=True, slots=True)
class Pass:
    """What one forward pass returns for a batch."""

    logits: dict[str, torch.Tensor]
    #: Token states after the last layer, float32, (batch, tokens, hidden).
    hidden: torch.Tensor
    mask: torch.Tensor
    #: The mean-pooled vector every head reads, float32, (batch, hidden).
    pooled: torch.Tensor | None = None
    #: The token states of the last layers a caller asked for (`states`), last layer last; empty unless asked.
    layer_states: tuple[torch.Tensor, ...] = ()


@dataclass(frozen=True, slots=True)
class Encoded:
    """One padded group of posts, as the encoder and the explanations read it."""

    #: Positions of the group's posts in the texts given to `encode_groups`, shortest first.
    members: list[int]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    #: (posts, tokens, 2) character spans of each token; (0, 0) for special and padding tokens.
    offsets: np.ndarray


def encode_groups(
    tokenizer: Any, texts: Sequence[str], *, max_length: int, rows: int = PASS_ROWS,
    width_multiple: int = WIDTH_MULTIPLE,
) -> list[Encoded]:
    """Tokenize `texts` once, with character offsets, and return them padded in passes of similar token length.

    Posts are sorted by token count and cut into passes of `rows`; each is padded to its longest post rounded up
    to `width_multiple` tokens (never past `max_length`).
    """
    if rows < 1 or width_multiple < 1:
        raise ValueError(f"rows and width_multiple must be at least 1, got {rows} and {width_multiple}")
    if not texts:
        return []
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, return_offsets_mapping=True)
    ids: list[list[int]] = encoded["input_ids"]
    spans: list[list[tuple[int, int]]] = encoded["offset_mapping"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for start in range(0, len(order), rows):
        members = order[start : start + rows]
        longest = max(len(ids[i]) for i in members)
        width = max(longest, min(max_length, -(-longest // width_multiple) * width_multiple))
        input_ids = np.full((len(members), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(members), width), dtype=np.int64)
        offsets = np.zeros((len(members), width, 2), dtype=np.int64)
        for row, index in enumerate(members):
            size = len(ids[index])
            input_ids[row, :size] = ids[index]
            mask[row, :size] = 1
            offsets[row, :size] = spans[index]
        out.append(Encoded(members, torch.from_numpy(input_ids), torch.from_numpy(mask), offsets))
    return out


class TriageNet(nn.Module):
    """A transformer encoder, mean pooling and the linear triage heads."""

    def __init__(self, encoder: nn.Module, heads: TriageHeads) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, states: int = 0) -> Pass:
        """Encode a padded batch and apply the heads to its mean-pooled states.

        `states` > 0 also keeps the token states of the encoder's last `states` layers in the pass (an encoder that
        takes `states`, as e5's does).
        """
        more = {"states": states} if states else {}
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **more)
        hidden = output.last_hidden_state.float()
        pooled = mean_pool(hidden, attention_mask)
        return Pass(logits=self.heads(pooled), hidden=hidden, mask=attention_mask, pooled=pooled,
                    layer_states=tuple(getattr(output, "layer_states", ())))


#: The heads whose logits the explanations split into the words behind them.
EXPLAINED: tuple[str, ...] = ("sentiment", "complaint")


def token_shares(result: Pass, heads: TriageHeads, names: Sequence[str] = EXPLAINED) -> dict[str, torch.Tensor]:
    """Return each token's exact additive share of the logits of the heads in `names`, (batch, tokens, classes).

    The heads are linear on the mean of token states, so logit = sum over tokens of
    (state . weight) / token count + bias; the shares sum to the logit less the bias. No gradient is needed.
    """
    mask = result.mask.unsqueeze(-1).float()
    per_token = result.hidden * mask / mask.sum(1, keepdim=True).clamp(min=1.0)
    return {name: per_token @ getattr(heads, name).weight.t() for name in names}


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
