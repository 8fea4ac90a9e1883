"""Sentence embeddings from the built-in MiniLM encoder, for grouping posts by meaning (digest themes)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from models.encoder import BUILTIN, load_encoder, mean_pool

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def _encoder(model: str) -> tuple[Any, torch.nn.Module]:
    tokenizer, encoder = load_encoder(model)
    encoder.eval()
    log.info("loaded sentence encoder %s", model)
    return tokenizer, encoder


def embed_texts(texts: Sequence[str], *, model: str = BUILTIN, batch_size: int = 32,
                max_length: int = 128) -> np.ndarray:
    """Return one unit-length mean-pooled embedding per text, as a float32 array of shape (n, width)."""
    tokenizer, encoder = _encoder(model)
    chunks: list[np.ndarray] = []
    with torch.inference_mode():
        for first in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[first:first + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            pooled = torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)
            chunks.append(pooled.float().numpy())
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32)
