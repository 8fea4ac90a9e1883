"""Turn per-token shares of a score into the few words a responder reads as "why"."""

from __future__ import annotations

import bisect
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
    starts = [start for start, _ in spans]
    totals = np.zeros(len(spans))
    for (start, end), real, share in zip(offsets, mask, shares, strict=True):
        if not real or end <= start:  # padding and special tokens have no characters
            continue
        word = bisect.bisect_right(starts, int(start)) - 1
        if word >= 0:
            totals[word] += float(share)
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
