"""Each post's decision from one batch's head outputs, the same for the English and the multilingual classifier.

A classifier runs its encoder and heads on a batch (`BatchOutputs`); `decide_posts` then applies, post by post, the
sarcasm rule and abstain band (`decide`), the complaint threshold, the words behind each score (`explain`), the
needs-a-reply decision (`wants_response`) and the category (configured keywords first, then the encoder's categories),
and assembles the `Scores` (models/scoring.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.base import SENTIMENTS, Post, Scores
from models.categories import ScoredBatch
from models.category_pick import pick_category
from models.extra_heads import ExtraScores
from models.network import Calibrated
from models.scoring import IronyRule, assemble, decide, explain, keyword_pick, wants_response
from models.urgency import UrgencyMatch

#: `match(post, builtin)`: the urgency keywords found in a post; with `builtin=False` only the configured ones.
KeywordMatcher = Callable[[Post, bool], UrgencyMatch]


@dataclass(frozen=True, slots=True)
class BatchOutputs:
    """What one encoder pass and its heads said about a batch, row by row."""

    probs: Calibrated
    #: Each token's share of the "sentiment" and "complaint" logits, (batch, tokens, classes).
    shares: Mapping[str, torch.Tensor]
    #: Each token's (start, end) characters in its post, and the attention mask, (batch, tokens).
    offsets: np.ndarray | Sequence[np.ndarray]
    mask: np.ndarray
    #: The irony and needs-a-reply heads' output, when the classifier has them.
    extra: ExtraScores | None = None
    #: The categories from the encoder, one per post, when the classifier scores them.
    categories: Sequence[ScoredBatch] | None = None


@dataclass(frozen=True, slots=True)
class DecisionSettings:
    """The thresholds a classifier's files and options set for its decisions."""

    abstain_margin: float
    complaint_threshold: float
    explain_words: int
    #: The sarcasm rule, and the reply head's threshold, when the classifier has the extra heads.
    irony: IronyRule | None = None
    reply_threshold: float | None = None


def decide_posts(posts: Sequence[Post], languages: Sequence[str | None], outputs: BatchOutputs,
                 settings: DecisionSettings, *, match: KeywordMatcher) -> list[Scores]:
    """Return the `Scores` of each post of a batch from its row of `outputs`."""
    probs, extra, scored, k = outputs.probs, outputs.extra, outputs.categories, settings.explain_words
    out = []
    for row, (post, language) in enumerate(zip(posts, languages, strict=True)):
        decision = decide(
            probs.sentiment[row], float(probs.complaint[row]), probs.severity_logits[row],
            abstain_margin=settings.abstain_margin, complaint_threshold=settings.complaint_threshold,
            irony_prob=None if extra is None else float(extra.irony[row]), irony=settings.irony,
        )
        complaint = decision.complaint_prob >= settings.complaint_threshold
        # sarcasm: the praise words irony turned around are what explain the complaint
        complaint_shares = extra.irony_shares[row] if decision.sarcastic and extra is not None \
            else outputs.shares["complaint"][row, :, 0].numpy()
        label = int(decision.sentiment_probs.argmax())
        sentiment = SENTIMENTS[label]
        words = explain(
            post.text, outputs.offsets[row], outputs.mask[row], label=label,
            sentiment_shares=outputs.shares["sentiment"][row].numpy(), complaint_shares=complaint_shares,
            complaint=complaint, k=k,
        )
        respond, reply_prob = complaint, None  # without a reply head, a complaint is what needs an answer
        if extra is not None and settings.reply_threshold is not None:
            reply_prob = float(extra.reply[row])
            respond = wants_response(complaint=complaint, reply_prob=reply_prob, threshold=settings.reply_threshold,
                                     sentiment=sentiment, text=post.text)
        found = match(post, scored is None)
        if found.category != "none" or scored is None:
            # a configured keyword wins outright; without categories from the encoder the built-in lists decide too
            pick = keyword_pick(found, complaint=complaint)
        else:
            pick = pick_category(
                scored[row], row, text=post.text, offsets=outputs.offsets[row], mask=outputs.mask[row],
                complaint=complaint, praise=sentiment == "positive" and not respond, k=k,
                keywords=match(post, True) if scored[row].learned is not None else None,
            )
        out.append(assemble(decision, complaint=complaint, explanation=words, language=language, pick=pick,
                            respond=None if reply_prob is None else respond, reply_prob=reply_prob))
    return out
