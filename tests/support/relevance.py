"""Posts for the relevance-filter tests (written by us): Kestrel Mobile's customers, and namesakes its query catches.

The query "kestrel" catches birdwatchers' posts about the falcon; responders mark those not relevant and answer the
customers. Each text is built from a template and a numbered detail, so every post is distinct.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime

import torch
from sqlalchemy import select

from core.domain import Batch, Mention
from core.settings import Settings
from core.storage import Database
from core.storage.schema import MentionRow
from models import load_classifier
from models.base import Classifier, Post, Scores
from models.relevance import Click, RelevanceFilters, train_relevance
from monitor.pipeline.classify import classify_pending
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.route import route_pending
from monitor.queue.items import set_status
from tests.support.queue import BRAND, NOW, Labels, StoredOnlySource, post, seed
from tests.support.settings import make_settings

CUSTOMER = (
    "@KestrelMobile my bill shows a roaming charge of £{n} I never made, please sort it",
    "@KestrelMobile no signal at all in postcode area {n} since this morning, is there an outage?",
    "@KestrelMobile I've been on hold {n} minutes trying to cancel my contract",
    "@KestrelMobile my new SIM still isn't active after {n} hours, can you help?",
    "@KestrelMobile why did my data run out on day {n} of the month, I barely used it",
    "@KestrelMobile the app logs me out every {n} minutes and I can't top up",
)
#: Width of `bag_of_words`.
WIDTH = 64
NAMESAKE = (
    "Saw a kestrel hovering over the motorway verge for {n} seconds before it dived, stunning bird",
    "Our nest box camera shows {n} kestrel chicks this year! Ringing them next week #birdwatching",
    "A kestrel perched on the fence post for {n} minutes while we had lunch, such a beautiful falcon",
    "Kestrel numbers in the county fell {n}% says the RSPB survey, farmland birds in trouble",
    "Photographed a female kestrel with a vole at {n}mm focal length, happy with the shot #wildlife",
    "Read Kes again, the kestrel scenes still get me after {n} years",
)
#: A namesake the lexicon reads as a complaint ("never", "trouble"), so unhidden it would be queued and alerted.
BIRD = "Kestrel numbers in the county fell 40% says the RSPB survey, farmland birds in trouble, never seen so few"


def texts(templates: Sequence[str], count: int, *, start: int = 1) -> list[str]:
    """Return `count` distinct posts, cycling through `templates` with a number in each."""
    return [templates[i % len(templates)].format(n=start + i) for i in range(count)]


def clicks(relevant: int, not_relevant: int, *, start: int = 1) -> list[Click]:
    """Return labelled posts as `load_clicks` gives them: customers relevant, namesakes not relevant."""
    rows = [Click(id=i + 1, text=t, not_relevant=False, language="en")
            for i, t in enumerate(texts(CUSTOMER, relevant, start=start))]
    rows += [Click(id=relevant + i + 1, text=t, not_relevant=True, language="en")
             for i, t in enumerate(texts(NAMESAKE, not_relevant, start=start))]
    return rows


def seed_clicks(db: Database, settings: Settings, *, relevant: int, not_relevant: int,
                now: datetime) -> dict[str, tuple[int, int | None]]:
    """Queue customer and namesake posts, each by its own author, and act on them as a responder would.

    The customers' items are resolved by "amira", the namesakes' marked not relevant by "ben"; returns external id ->
    (mention id, item id) as `seed` does.
    """
    mentions: list[Mention] = []
    for i, text in enumerate(texts(CUSTOMER, relevant)):
        mentions.append(post(f"c{i}", text, handle=f"customer{i}", minutes_ago=1 + i % 50))
    for i, text in enumerate(texts(NAMESAKE, not_relevant)):
        mentions.append(post(f"n{i}", text, handle=f"birder{i}", minutes_ago=1 + i % 50))
    # every post gets an item: complaints with a high level, as the test labels say
    stored = seed(db, settings, mentions, {m.external_id: Labels() for m in mentions}, now=now)
    for external_id, (_, item_id) in stored.items():
        assert item_id is not None, external_id
        if external_id.startswith("c"):
            set_status(db, item_id, "resolved", "amira", now=now)
        else:
            set_status(db, item_id, "not_relevant", "ben", now=now)
    return stored


def bag_of_words(batch: Sequence[str]) -> torch.Tensor:
    """A small fake embedding where the real encoder is too slow: words hashed into `WIDTH` slots, normalised."""
    out = torch.zeros((len(batch), WIDTH))
    for row, text in enumerate(batch):
        for word in re.findall(r"[a-z]+", text.lower()):
            out[row, int(hashlib.sha1(word.encode()).hexdigest(), 16) % WIDTH] += 1.0
    return out / out.sum(1, keepdim=True).clamp_min(1.0)


class FilteringLexicon(Classifier):
    """The lexicon model, with Kestrel's filter on the fake embedding marking posts as the transformer does."""

    def __init__(self) -> None:
        self.inner = load_classifier("lexicon")
        self.name = "lexicon + relevance filter"
        outcome = train_relevance(bag_of_words, BRAND, clicks(40, 40), encoder="fake", hidden_size=WIDTH)
        assert outcome.filter is not None
        self.filters = RelevanceFilters()
        self.filters.set(BRAND, outcome.filter)

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        scores = self.inner.classify(posts)
        return self.filters.mark([p.brand for p in posts], bag_of_words([p.text for p in posts]), scores)


def route_posts(db: Database, classifier: Classifier, mentions: Sequence[Mention]) -> dict[str, int]:
    """Store `mentions` for Kestrel Mobile, classify them with `classifier` and route them; return external id -> id."""
    settings = make_settings()
    store_batch(db, StoredOnlySource(name="x-kestrel", brand=BRAND, options={}), Batch(tuple(mentions), None),
                now=NOW)
    classify_pending(db, classifier, settings.sla, now=NOW)
    route_pending(db, settings, now=NOW)
    with db.session() as session:
        return dict(session.execute(select(MentionRow.external_id, MentionRow.id)).all())
