"""Routing a post its brand's relevance filter hides: queued closed as not relevant with the reason, no Slack
message, counted; reopenable; a follow-up in a conversation is never hidden. On both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.storage import Database
from core.storage.schema import AlertRow, AuditRow, ClassificationRow, OutboxRow, QueueItemRow, RoutingRow
from models.base import RELEVANCE_KEY
from monitor.pipeline.route.relevance import FILTERED_ACTION, filtered_since, stored_mark
from monitor.queue.items import set_status
from monitor.queue.relevance_clicks import load_clicks
from tests.support.queue import BRAND, NOW, post
from tests.support.relevance import BIRD, CUSTOMER, NAMESAKE, FilteringLexicon, route_posts, texts


@pytest.fixture(scope="module")
def classifier() -> FilteringLexicon:
    return FilteringLexicon()


# the lexicon reads both as complaints, so either would be queued and alerted
CUSTOMER_POST = texts(CUSTOMER, 1, start=300)[0]


def test_a_hidden_post_is_queued_closed_with_its_reason_and_tells_nobody(db: Database,
                                                                         classifier: FilteringLexicon) -> None:
    ids = route_posts(db, classifier, [post("bird", BIRD, handle="birder"), post("cust", CUSTOMER_POST, handle="jo")])
    with db.session() as session:
        items = {row.mention_id: row for row in session.execute(select(QueueItemRow)).scalars()}
        routed = {row.mention_id: row.matched_rules for row in session.execute(select(RoutingRow)).scalars()}
        alerted = set(session.execute(select(AlertRow.mention_id)).scalars())
        sent = [row.payload for row in session.execute(select(OutboxRow)).scalars()]
        audit = session.execute(select(AuditRow).where(AuditRow.action == FILTERED_ACTION)).scalars().all()
        assert filtered_since(session, BRAND, NOW) == 1 and filtered_since(session, "Orbital Telecom", NOW) == 0
    bird, customer = ids["bird"], ids["cust"]
    assert items[bird].status == "not_relevant" and items[customer].status == "new"
    assert routed[bird]["alerts"] == [] and routed[bird][RELEVANCE_KEY]["probability"] >= 0.5
    assert customer in alerted and bird not in alerted
    assert sent and BIRD not in str(sent)  # the customer's alert went out, nothing about the bird
    assert [(row.actor, row.mention_id, row.queue_item_id) for row in audit] == [("brandmon", bird, items[bird].id)]
    assert "not about Kestrel Mobile" in audit[0].detail["reason"]


def test_a_reopened_hidden_post_is_a_customer_and_teaches_the_filter_so(db: Database,
                                                                        classifier: FilteringLexicon) -> None:
    ids = route_posts(db, classifier, [post("bird", BIRD, handle="birder")])
    with db.session() as session:
        item_id = session.scalar(select(QueueItemRow.id).where(QueueItemRow.mention_id == ids["bird"]))
    assert item_id is not None
    assert set_status(db, item_id, "new", "amira", now=NOW).status == "new"
    assert [(c.id, c.not_relevant) for c in load_clicks(db, BRAND)] == [(ids["bird"], False)]


def test_a_follow_up_in_a_conversation_is_never_hidden(db: Database, classifier: FilteringLexicon) -> None:
    bird_reply = texts(NAMESAKE, 1, start=400)[0]
    ids = route_posts(db, classifier, [post("cust", CUSTOMER_POST, handle="jo", minutes_ago=10),
                                  post("reply", bird_reply, handle="jo", parent_id="cust", minutes_ago=5)])
    with db.session() as session:
        hidden = session.execute(select(AuditRow.mention_id).where(AuditRow.action == FILTERED_ACTION)).all()
        routed = {row.mention_id: row.matched_rules for row in session.execute(select(RoutingRow)).scalars()}
        marked = session.scalar(select(ClassificationRow.explanation).where(ClassificationRow.mention_id
                                                                            == ids["reply"]))
    assert RELEVANCE_KEY in marked  # the filter would hide it, but it answers the customer's own post
    assert hidden == [] and RELEVANCE_KEY not in routed[ids["reply"]]
    assert routed[ids["reply"]]["case"] == routed[ids["cust"]]["case"]


def test_a_damaged_mark_is_ignored() -> None:
    assert stored_mark({RELEVANCE_KEY: ["0.97", "0.80"]}) == (0.97, 0.80)
    assert stored_mark({RELEVANCE_KEY: ["high"]}) is None and stored_mark({}) is None and stored_mark(None) is None
