"""Turn per-token shares of a score into the few words a responder reads as "why"."""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = "\"'“”‘’.,!?:;()[]{}<>*_~`"


def top_words(text: str, offsets: np.ndarray, mask: np.ndarray, shares: np.ndarray, *, k: int) -> list[str]:
    """Return up to `k` whitespace words of `text` whose tokens added most to a score, strongest first.

    `offsets` are the tokenizer's (start, end) character spans per token, `mask` marks real tokens and
    `shares` is each token's contribution; a word's contribution is the sum over its tokens.
    """
    if k <= 0:
        return []
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not spans:
        return []
    offsets = np.asarray(offsets).reshape(-1, 2)
    # Padding and special tokens have no characters; each other token belongs to the word it starts in.
    real = (np.asarray(mask) != 0) & (offsets[:, 1] > offsets[:, 0])
    word = np.searchsorted(np.array([start for start, _ in spans]), offsets[real, 0], side="right") - 1
    inside = word >= 0
    totals = np.zeros(len(spans))
    # One vectorised pass (in token order, as a loop would add) instead of a Python step per token.
    np.add.at(totals, word[inside], np.asarray(shares, dtype=np.float64).reshape(-1)[real][inside])
    words: list[str] = []
    for index in np.argsort(-totals, kind="stable"):
        if totals[index] <= 0 or len(words) >= k:
            break
        found = text[spans[index][0] : spans[index][1]].strip(_EDGE_PUNCTUATION)
        # Handles and links say who or where, never why.
        if not found or found.startswith(("@", "http")) or found.casefold() in (w.casefold() for w in words):
            continue
        words.append(found)
    return words
