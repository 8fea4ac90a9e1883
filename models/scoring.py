"""Turn head outputs into `Scores`: the abstain band, severity, sarcasm, category, urgency and the words behind them.

Every encoder-based classifier (the English transformer and the multilingual one) decides through these functions,
so a post gets the same treatment whichever encoder read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.base import SENTIMENTS, URGENCY_CATEGORIES, NeedsReply, Scores
from models.explain import top_words
from models.urgency import UrgencyMatch, urgency_score

_POSITIVE = SENTIMENTS.index("positive")
_NEGATIVE = SENTIMENTS.index("negative")
#: Question marks of the scripts the models read: Latin (Spanish "¿...?" ends in one), fullwidth (Chinese,
#: Japanese) and Arabic.
QUESTION_MARKS = frozenset("?\uff1f\u061f")


def asks_question(text: str) -> bool:
    """Return True when `text` has a question mark in any script the models read."""
    return not QUESTION_MARKS.isdisjoint(text)


def asks_nothing(*, sentiment: str, complaint: bool, text: str) -> bool:
    """Return True for positive words that raise no complaint and ask no question: a thank-you, not a ticket."""
    return sentiment == "positive" and not complaint and not asks_question(text)


def wants_response(*, complaint: bool, reply_prob: float, threshold: float, sentiment: str, text: str) -> bool:
    """Decide needs-a-reply's "respond": a complaint, or the reply head at or above `threshold` on a post that is
    not plain praise.

    The reply head learned which posts real teams answered, and teams answer thanks too, so on its own it calls a
    thank-you "respond". Praise that asks nothing is answered with thanks ("thank"), as routing does. On the
    needs-a-reply check set (`models/checks/needs_reply.jsonl`, `python -m models.check_sets`) this moved
    respond/thank/none macro-F1 from 0.592 to 0.675 (thank F1 0.44 to 0.67, respond 0.84 to 0.87).
    """
    if complaint:
        return True
    return reply_prob >= threshold and not asks_nothing(sentiment=sentiment, complaint=complaint, text=text)


def check_options(*, abstain_margin: float, batch_size: int) -> None:
    """Refuse an abstain margin outside [0, 1) or a batch size below 1."""
    if not 0.0 <= abstain_margin < 1.0:
        raise ValueError(f"abstain_margin must be in [0, 1), got {abstain_margin}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


@dataclass(frozen=True, slots=True)
class IronyRule:
    """When irony turns positive-looking praise into the complaint it is."""

    #: Irony probability at or above this...
    threshold: float
    #: ...and a complaint probability at or above this (praise words around a problem: sarcasm).
    min_complaint: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What the heads decided for one post, before category and urgency."""

    sentiment_probs: np.ndarray
    complaint_prob: float
    severity: int
    reasons: tuple[str, ...]
    #: Irony read positive-looking praise as the complaint it is.
    sarcastic: bool = False
    irony_prob: float | None = None


def decide(
    sentiment_probs: np.ndarray,
    complaint_prob: float,
    severity_logits: np.ndarray,
    *,
    abstain_margin: float,
    complaint_threshold: float,
    irony_prob: float | None = None,
    irony: IronyRule | None = None,
) -> Decision:
    """Apply the sarcasm rule, the abstain band on sentiment and complaint, and severity for complaints."""
    sarcastic = False
    if (
        irony is not None
        and irony_prob is not None
        and irony_prob >= irony.threshold
        and complaint_prob >= irony.min_complaint
        and int(sentiment_probs.argmax()) == _POSITIVE
    ):
        # Sarcastic praise ("love paying for no signal"): the irony head says the positive words mean the
        # opposite, so that share of the positive mass is read as negative, and the post as a complaint.
        sarcastic = True
        sentiment_probs = sentiment_probs.copy()
        moved = sentiment_probs[_POSITIVE] * irony_prob
        sentiment_probs[_POSITIVE] -= moved
        sentiment_probs[_NEGATIVE] += moved
        complaint_prob = max(complaint_prob, irony_prob)
    reasons = []
    ranked = np.sort(sentiment_probs)[::-1]
    if ranked[0] - ranked[1] < abstain_margin:
        first, second = np.argsort(sentiment_probs)[::-1][:2]
        reasons.append(
            f"sentiment unsure: {SENTIMENTS[first]} {sentiment_probs[first]:.2f}"
            f" vs {SENTIMENTS[second]} {sentiment_probs[second]:.2f}"
        )
    # The gap between "complaint" and "not a complaint", on the same footing as the sentiment gap.
    if abs(complaint_prob - complaint_threshold) * 2 < abstain_margin:
        reasons.append(f"complaint unsure: probability {complaint_prob:.2f}")
    severity = 0
    if complaint_prob >= complaint_threshold:
        severity = 1 + int(np.argmax(severity_logits[1:]))
    return Decision(sentiment_probs, complaint_prob, severity, tuple(reasons), sarcastic, irony_prob)


def explain(
    text: str,
    offsets: np.ndarray,
    mask: np.ndarray,
    *,
    label: int,
    sentiment_shares: np.ndarray,
    complaint_shares: np.ndarray,
    complaint: bool,
    k: int,
) -> dict[str, list[str]]:
    """Return the words behind the chosen sentiment `label` and behind the complaint decision.

    `sentiment_shares` is (tokens, classes), `complaint_shares` (tokens,): each token's share of the logit.
    """
    # Words that pushed the chosen class above the others.
    toward = sentiment_shares[:, label] - np.delete(sentiment_shares, label, axis=1).mean(axis=1)
    return {
        "sentiment": top_words(text, offsets, mask, toward, k=k),
        "complaint": top_words(text, offsets, mask, complaint_shares if complaint else -complaint_shares, k=k),
    }


@dataclass(frozen=True, slots=True)
class CategoryPick:
    """The category chosen for one post, how sure the model was, and the words behind it."""

    name: str
    #: The model's probability; 1.0 when a keyword rule decided; None when nothing scored it.
    prob: float | None
    words: Sequence[str] = ()
    #: The urgency weight the category brings (a brand's own category); None: the built-in weight of its name.
    weight: float | None = None


def keyword_pick(found: UrgencyMatch, *, complaint: bool) -> CategoryPick:
    """Return the keyword rules' category, or "other" for a complaint they do not place and "none" otherwise."""
    if found.category != "none":
        return CategoryPick(found.category, 1.0, tuple(found.phrases))
    return CategoryPick("other" if complaint else "none", None)


def assemble(
    decision: Decision,
    *,
    complaint: bool,
    explanation: dict[str, list[str]],
    language: str | None,
    pick: CategoryPick,
    respond: bool | None = None,
    reply_prob: float | None = None,
) -> Scores:
    """Build the `Scores` of one post from its decision, category and (when a reply head ran) reply decision."""
    probs: dict[str, float] = {
        name: round(float(p), 4) for name, p in zip(SENTIMENTS, decision.sentiment_probs, strict=True)
    }
    sentiment = SENTIMENTS[int(decision.sentiment_probs.argmax())]
    needs_reply: NeedsReply | None = None
    if respond is not None:
        needs_reply = "respond" if respond else "thank" if sentiment == "positive" else "none"
    urgency_category = pick.name if pick.name in URGENCY_CATEGORIES else "other"
    words = list(pick.words)
    if urgency_category == "other" and not words:
        words = explanation.get("complaint", [])
    return Scores(
        sentiment=sentiment,
        sentiment_probs=probs,
        complaint=complaint,
        complaint_prob=round(decision.complaint_prob, 4),
        severity=decision.severity,
        urgency_score=urgency_score(
            category=urgency_category,
            negative_prob=probs["negative"],
            complaint_prob=decision.complaint_prob,
            severity=decision.severity,
            weight=pick.weight,
        ),
        urgency_category=urgency_category,
        language=language,
        needs_human=bool(decision.reasons),
        needs_human_reason="; ".join(decision.reasons) or None,
        explanation={**explanation, "urgency": words},
        irony_prob=None if decision.irony_prob is None else round(decision.irony_prob, 4),
        needs_reply=needs_reply,
        needs_reply_prob=None if reply_prob is None else round(reply_prob, 4),
        category=pick.name,
        category_prob=None if pick.prob is None else round(pick.prob, 4),
        category_words=tuple(words),
    )


def unscored(language: str | None, reason: str, found: UrgencyMatch) -> Scores:
    """Return a placeholder that says nothing about sentiment and sends the post to a human.

    Only keyword rules (`found`) speak for urgency here; the model said nothing.
    """
    uniform = round(1.0 / len(SENTIMENTS), 4)
    return Scores(
        sentiment="neutral",
        sentiment_probs={name: uniform for name in SENTIMENTS},
        complaint=False,
        complaint_prob=0.5,
        severity=0,
        urgency_score=urgency_score(category=found.category, negative_prob=0.0, complaint_prob=0.0, severity=0),
        urgency_category=found.category,
        language=language,
        needs_human=True,
        needs_human_reason=reason,
        explanation={"urgency": list(found.phrases)} if found.phrases else {},
    )
