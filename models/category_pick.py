"""Choose one post's category from what the prototypes and the learned head said about its batch."""

from __future__ import annotations

import numpy as np

from models.categories import ScoredBatch
from models.explain import top_words
from models.scoring import CategoryPick, keyword_pick
from models.urgency import UrgencyMatch


def pick_category(
    scored: ScoredBatch,
    row: int,
    *,
    text: str,
    offsets: np.ndarray,
    mask: np.ndarray,
    complaint: bool,
    praise: bool,
    k: int,
    keywords: UrgencyMatch | None = None,
) -> CategoryPick:
    """Return the category of post `row`: a prototype's, the built-in keywords', or the learned head's.

    A prototype decides when it beats "no category" and the post is not plain praise, and it is a brand's own
    category, or a built-in one the brand's corrections taught (a corrected post stood in for it), or there is no
    learned head. A post close to one the team took out of a category gets none. Otherwise the built-in keyword
    lists (`keywords`, their match on the post) decide where they place the post: they are precise where they
    speak (on the labelled val complaints, keywords first and the head after: macro-F1 0.375 against 0.327 for
    the head alone). Then a complaint takes the learned head's category,
    and anything else is "none" (a complaint with no head either is "other").
    """
    best = int(scored.scores.best[row])
    probs = scored.scores.probs[row]
    name = scored.head.names[best]
    taught = scored.scores.taught is not None and bool(scored.scores.taught[row, best])
    if probs[best] >= probs[-1] and not praise and (
        scored.learned is None or name not in scored.learned_names or taught
    ):
        share = scored.shares[row].numpy()
        toward = share[:, best] - np.delete(share, best, axis=1).mean(axis=1)
        words = top_words(text, offsets, mask, toward, k=k)
        return CategoryPick(name, float(probs[best]), tuple(words), scored.head.weights[name])
    if scored.scores.taken_out is not None and bool(scored.scores.taken_out[row]):
        return CategoryPick("other" if complaint else "none", float(probs[-1]))  # the team said: no category
    if keywords is not None and keywords.category != "none":
        return keyword_pick(keywords, complaint=complaint)
    if scored.learned is not None and complaint:
        learned = scored.learned.probs[row]
        pick = int(learned.argmax())
        share = scored.learned.shares[row]
        toward = share[:, pick] - np.delete(share, pick, axis=1).mean(axis=1)
        name = scored.learned_names[pick]
        words = top_words(text, offsets, mask, toward, k=k)
        return CategoryPick(name, float(learned[pick]), tuple(words), scored.head.weights.get(name))
    return CategoryPick("other" if complaint else "none", float(probs[-1]))
