"""The `Classifier` interface every model in brandmon stands behind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Sentiment = Literal["negative", "neutral", "positive"]
SENTIMENTS: tuple[Sentiment, ...] = ("negative", "neutral", "positive")

#: Urgency categories the router and SLA understand; "none" means nothing urgent was found.
URGENCY_CATEGORIES: tuple[str, ...] = (
    "safety",
    "legal",
    "outage",
    "churn_risk",
    "billing",
    "delivery",
    "account_access",
    "product_defect",
    "other",
    "none",
)

#: The `Scores.explanation` key of a post its brand's relevance filter hides: [probability, threshold] as text
#: (`models/relevance.py`; the router queues such a post closed as not relevant).
RELEVANCE_KEY = "not_relevant"

NeedsReply = Literal["respond", "thank", "none"]
NEEDS_REPLY: tuple[NeedsReply, ...] = ("respond", "thank", "none")


@dataclass(frozen=True, slots=True)
class Post:
    """One post to score: its text, the language the network reported, and the brand it is about."""

    text: str
    language: str | None = None
    brand: str | None = None


@dataclass(frozen=True, slots=True)
class Scores:
    """What one model pass says about one post."""

    sentiment: Sentiment
    sentiment_probs: Mapping[str, float]
    complaint: bool
    complaint_prob: float
    severity: int
    urgency_score: float
    urgency_category: str
    language: str | None = None
    needs_human: bool = False
    needs_human_reason: str | None = None
    #: For each score name ("sentiment", "complaint", "urgency"), the words that drove it.
    explanation: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Probability that the post is ironic or sarcastic; None when the model has no irony head.
    irony_prob: float | None = None
    #: What the team should do: "respond" (a question, request, complaint or follow-up), "thank" (praise
    #: addressed to the brand), "none" (chatter, news, ads, spam); None when the model does not say.
    needs_reply: NeedsReply | None = None
    #: Probability that the post asks something of the team (the "respond" side of `needs_reply`).
    needs_reply_prob: float | None = None
    #: The category the model read from the post (a built-in one or the brand's own), "other" for a complaint in
    #: no category, "none" for no issue; None when the model does not score categories.
    category: str | None = None
    category_prob: float | None = None
    #: The words that drove `category`.
    category_words: Sequence[str] = ()


class Classifier(ABC):
    """Score posts for sentiment, complaint, severity and urgency in one pass per post."""

    #: Human-readable model name, shown in the demo and stored with every classification.
    name: str = "unnamed"

    @abstractmethod
    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        """Score a batch of posts; the result has one `Scores` per post, in order."""

    def describe(self) -> str:
        """Return a one-line description of the model for logs and the demo banner."""
        return self.name
