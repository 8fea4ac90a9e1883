"""A brand's own category for tests: `roaming`, its two posts, and a classifier that puts posts in it by name."""

from __future__ import annotations

from collections.abc import Sequence

from models.base import Classifier, Post, Scores

ROAMING = "@KestrelMobile roaming abroad is not working, no data in Spain"
OUTAGE = "@KestrelMobile no signal in Leeds since this morning"
#: `brands[].categories` of Kestrel Mobile: its own category, learned from a description and five examples.
CATEGORIES = [{"name": "roaming", "description": "Posts about roaming abroad.", "weight": 0.9,
               "examples": [f"roaming in country {n} does not work" for n in range(5)]}]


class FakeCategories(Classifier):
    """Scores a post about roaming as the brand's own `roaming` (probability 0.83; `urgency_category` "other"), any
    other as a built-in outage."""

    name = "fake-categories"

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        """Return each post's scores: roaming by name, or a built-in outage."""
        return [self._one(p) for p in posts]

    @staticmethod
    def _one(p: Post) -> Scores:
        roaming = "roaming" in p.text
        words = ("roaming", "abroad") if roaming else ("no signal",)
        return Scores(
            sentiment="negative", sentiment_probs={"negative": 0.9, "neutral": 0.05, "positive": 0.05},
            complaint=True, complaint_prob=0.9, severity=2, urgency_score=0.7,
            urgency_category="other" if roaming else "outage", language="en",
            explanation={"complaint": ["not working"], "urgency": list(words)},
            category="roaming" if roaming else "outage", category_prob=0.83 if roaming else 1.0,
            category_words=words)
