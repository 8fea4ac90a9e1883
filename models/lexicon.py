"""The lexicon classifier: VADER sentiment plus keyword urgency, English only.

It needs no torch, and it is the baseline
that `brandmon evaluate` reports beside the transformer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from models.base import Classifier, Post, Scores
from models.language import detect_language
from models.urgency import UrgencyRules, urgency_score

#: VADER's own recommended thresholds on the compound score.
POSITIVE_FROM = 0.05
NEGATIVE_BELOW = -0.05
_SHARPNESS = 6.0
#: Compound scores this close to a threshold are too close to call.
ABSTAIN_WITHIN = 0.02
SUPPORTED_LANGUAGES = frozenset({"en"})


class LexiconClassifier(Classifier):
    """Score English posts with the VADER lexicon and the urgency keyword rules."""

    name = "lexicon-vader (baseline, English only)"
    #: The languages it scores; other posts go to a human.
    languages: frozenset[str] = frozenset({"en"})

    def __init__(self, *, urgency: UrgencyRules | None = None) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._urgency = urgency or UrgencyRules()

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        """Score each post on its own; VADER has no batching to gain from."""
        return [self._score(post) for post in posts]

    def _score(self, post: Post) -> Scores:
        language = detect_language(post.text, post.language)
        polarity = self._vader.polarity_scores(post.text)
        compound = polarity["compound"]
        # Probabilities from the compound score's distance past each threshold, so they sum to one and their
        # largest is always the class the thresholds choose.
        logits = {
            "negative": (NEGATIVE_BELOW - compound) * _SHARPNESS,
            "neutral": 0.0,
            "positive": (compound - POSITIVE_FROM) * _SHARPNESS,
        }
        scale = sum(math.exp(v) for v in logits.values())
        probs = {name: round(math.exp(v) / scale, 4) for name, v in logits.items()}
        if compound >= POSITIVE_FROM:
            sentiment = "positive"
        elif compound <= NEGATIVE_BELOW:
            sentiment = "negative"
        else:
            sentiment = "neutral"
        found = self._urgency.match(post.text, post.brand)
        complaint_prob = min(1.0, max(0.0, -compound)) if found.category == "none" else max(0.5, -compound)
        complaint = complaint_prob >= 0.5
        severity = 0 if not complaint else 1 + min(3, int(complaint_prob * 4))
        needs_human, reason = False, None
        if not post.text.strip():
            needs_human, reason = True, "empty post"
        elif language is not None and language not in SUPPORTED_LANGUAGES:
            needs_human, reason = True, f"language {language} is not covered by {self.name}"
        elif abs(compound - POSITIVE_FROM) < ABSTAIN_WITHIN or abs(compound - NEGATIVE_BELOW) < ABSTAIN_WITHIN:
            needs_human, reason = True, "sentiment too close to call"
        drivers = [w for w in post.text.split() if self._vader.lexicon.get(w.lower().strip(".,!?:;"), 0.0)]
        return Scores(
            sentiment=sentiment,  # type: ignore[arg-type]
            sentiment_probs=probs,
            complaint=complaint,
            complaint_prob=round(complaint_prob, 4),
            severity=severity,
            urgency_score=urgency_score(
                category=found.category,
                negative_prob=probs["negative"],
                complaint_prob=complaint_prob,
                severity=severity,
            ),
            urgency_category=found.category,
            language=language,
            needs_human=needs_human,
            needs_human_reason=reason,
            explanation={"sentiment": drivers[:5], "urgency": list(found.phrases)},
        )
