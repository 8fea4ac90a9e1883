"""Routing decisions: respond, thank or no item, and the urgency level a post that needs nothing may reach."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from core.domain import Batch, Mention
from core.settings import SlaSettings
from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow
from models.base import Classifier, Post, Scores
from monitor.pipeline.classify import classify_pending, decided_urgency
from monitor.pipeline.route.rules import RoutingFacts, queue_kind, stored_needs_reply

WHEN = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)


def facts(text: str = "the new app is lovely", **changes: Any) -> RoutingFacts:
    base: dict[str, Any] = {
        "brand": "Kestrel Mobile", "network": "x", "sentiment": "positive", "complaint": False,
        "urgency_category": "none", "urgency_score": 0.1, "author_followers": 10, "author_verified": False,
        "language": "en", "needs_human": False, "text": text, "needs_reply": "thank",
    }
    return RoutingFacts(**(base | changes))


@pytest.mark.parametrize(
    ("changes", "level", "kind"),
    [
        ({}, "low", "thank"),  # praise that asks nothing
        ({"needs_reply": "respond"}, "low", "thank"),  # positive, no question, no complaint: still a thank-you
        ({"needs_human": True}, "high", "thank"),  # an unsure sentiment does not make praise a ticket
        ({"text": "lovely app, does it do eSIM?"}, "low", "respond"),  # a question
        ({"complaint": True, "needs_reply": "respond"}, "low", "respond"),  # sarcastic praise, read as a complaint
        ({"sentiment": "negative", "needs_reply": "none"}, "low", "respond"),
        ({"sentiment": "neutral", "needs_reply": "respond"}, "low", "respond"),
        ({"sentiment": "neutral", "needs_reply": "none"}, "high", None),  # news, spam: no item at any level
        ({"sentiment": "neutral", "needs_reply": "none", "needs_human": True}, "low", None),
    ],
)
def test_queue_kind_follows_the_reply_decision(changes: dict[str, Any], level: str, kind: str | None) -> None:
    assert queue_kind(facts(**changes), urgency_level=level) == kind


@pytest.mark.parametrize(
    ("changes", "level", "kind"),
    [
        ({"sentiment": "neutral"}, "high", "respond"),
        ({"sentiment": "neutral", "needs_human": True}, "low", "respond"),
        ({"sentiment": "neutral"}, "normal", None),
        ({}, "low", "thank"),
    ],
)
def test_without_a_reply_head_level_and_doubt_decide(changes: dict[str, Any], level: str, kind: str | None) -> None:
    assert queue_kind(facts(needs_reply=None, **changes), urgency_level=level) == kind


@pytest.mark.parametrize("category", ["safety", "legal"])
def test_warm_words_about_safety_or_the_law_are_read_before_any_thank_you(category: str) -> None:
    # the conversations sample's "Found this lovely piece of plastic in my @ChipotleTweets bowl today"
    post = facts("Found this lovely piece of plastic in my bowl today", urgency_category=category)
    assert queue_kind(post, urgency_level="normal") == "respond"
    assert queue_kind(facts(urgency_category="billing"), urgency_level="low") == "thank"


@pytest.mark.parametrize("text", [
    "love paying for a signal I never get #KestrelMobile",  # the demo's sarcasm, read as positive
    "Love when @KestrelMobile cuts the call just as I'm paying my bill!",  # the complaints set's pattern
    "just love waiting 40 minutes on hold", "great service as always \U0001F612",
])
def test_praise_that_sarcasm_wears_is_read_before_any_thank_you(text: str) -> None:
    assert queue_kind(facts(text), urgency_level="low") == "respond"


@pytest.mark.parametrize("text", ["the new app is lovely", "love the new app, thank you",
                                  "I love my new phone, the camera is class"])
def test_plain_praise_is_still_thanked(text: str) -> None:
    assert queue_kind(facts(text), urgency_level="low") == "thank"


def scores(*, sentiment: str = "neutral", complaint: bool = False, urgency: float = 0.9,
           needs_reply: str | None = "none") -> Scores:
    return Scores(sentiment=sentiment, sentiment_probs={"negative": 0.1, "neutral": 0.8, "positive": 0.1},  # type: ignore[arg-type]
                  complaint=complaint, complaint_prob=0.9 if complaint else 0.1, severity=2 if complaint else 0,
                  urgency_score=urgency, urgency_category="outage", explanation={"urgency": ["down"]},
                  needs_reply=needs_reply)  # type: ignore[arg-type]


def test_a_post_that_needs_nothing_stays_below_high() -> None:
    sla = SlaSettings()
    news = decided_urgency(scores(), "status page says kestrel is down in leeds", sla)
    assert sla.level_for(news) == "normal" and news < sla.level_thresholds["high"]
    praise = decided_urgency(scores(sentiment="positive", needs_reply="respond"), "back up already, great work", sla)
    assert sla.level_for(praise) == "normal"
    # a complaint, a request and a model without a reply head keep their score
    assert decided_urgency(scores(complaint=True, needs_reply="respond"), "down again", sla) == 0.9
    assert decided_urgency(scores(needs_reply="respond"), "is it down", sla) == 0.9
    assert decided_urgency(scores(needs_reply=None), "down", sla) == 0.9
    assert decided_urgency(scores(urgency=0.3), "down", sla) == 0.3  # already below: unchanged


class FixedClassifier(Classifier):
    """Give every post the scores its text is keyed to."""

    name = "fixed"

    def __init__(self, answers: dict[str, Scores]) -> None:
        self.answers = answers

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        return [self.answers[post.text] for post in posts]


def test_classify_stores_what_routing_reads(sqlite_db: Database) -> None:
    from monitor.pipeline.ingest import store_batch
    from sources.replay import ReplaySource

    answers = {
        "status page: kestrel down in leeds": scores(),
        "kestrel down again, third time": scores(sentiment="negative", complaint=True, needs_reply="respond"),
        "kestrel outage fixed, thanks team": scores(sentiment="positive", needs_reply="thank"),
        "kestrel down": scores(needs_reply=None),
    }
    posts = tuple(Mention(network="x", external_id=str(i), author_handle="a", author_name="A", text=text,
                          created_at=WHEN, url=f"https://x.com/a/status/{i}") for i, text in enumerate(answers))
    store_batch(sqlite_db, ReplaySource(name="s", brand="Kestrel Mobile", options={"path": "unused.jsonl"}),
                Batch(posts, None), now=WHEN)
    classify_pending(sqlite_db, FixedClassifier(answers), SlaSettings(), now=WHEN)
    with sqlite_db.session() as session:
        stored = {text: (level, stored_needs_reply(explanation), explanation["urgency"]) for text, level, explanation
                  in session.execute(select(MentionRow.text, ClassificationRow.urgency_level,
                                            ClassificationRow.explanation)
                                     .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id))}
    assert stored == {
        "status page: kestrel down in leeds": ("normal", "none", ["down"]),
        "kestrel down again, third time": ("critical", "respond", ["down"]),
        "kestrel outage fixed, thanks team": ("normal", "thank", ["down"]),
        "kestrel down": ("critical", None, ["down"]),
    }
