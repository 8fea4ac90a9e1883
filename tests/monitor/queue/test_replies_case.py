"""Issue 13, replies on cases: a reply answers the case's latest customer post, and reading it back is no change.

A case holds the customer's whole conversation, so a reply through brandmon answers their newest post in it (not
the item's first post, which may be a day old and in another thread); the reply row records the post it answers.
The "thread changed" guard still refuses a reply when a customer or a colleague (in the network's app) wrote
after the responder looked, but the brand's post that is the responder's own reply, read back from the network,
changes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.settings import Settings
from core.storage import Database
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import AuditRow, OutboxRow, ReplyRow
from monitor.pipeline.deliver import Deliverer
from monitor.queue.context import current_thread_state, mark_seen
from monitor.queue.items import claim
from monitor.queue.replies import ReplyNotifier, ThreadChanged, queue_reply
from tests.support.queue import NOW, PostingSource, post, seed
from tests.support.settings import make_settings

BRANDS = [{"name": "Kestrel Mobile", "query": "kestrel", "handles": {"x": "KestrelMobile"},
           "competitors": ["Orbital Telecom"]},
          {"name": "Orbital Telecom", "query": "orbital", "own": False}]


def settings() -> Settings:
    return make_settings(brands=BRANDS, slack={"enabled": False})


def deliver(db: Database, source: PostingSource) -> None:
    Deliverer(db, {"reply": ReplyNotifier(db, {source.name: source}, clock=lambda: NOW)}, messages_per_second=1000,
              clock=lambda: NOW).deliver_due()


def opened_case(db: Database, config: Settings) -> tuple[int, int]:
    """Jo's complaint, claimed and read by ana; return (mention id, item id)."""
    mention_id, item_id = seed(db, config, [post("100", conversation_id="100", minutes_ago=40)])["100"]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    return mention_id, item_id


def test_a_reply_answers_the_cases_latest_post_by_its_customer(db: Database) -> None:
    config = settings()
    first_id, item_id = opened_case(db, config)
    later = seed(db, config, [post("101", "@KestrelMobile and now the router is dead too", parent_id="100",
                                   conversation_id="100", minutes_ago=10)])
    seed(db, config, [post("102", "@KestrelMobile same here in Leeds", handle="bystander", name="Bee",
                           parent_id="101", conversation_id="100", minutes_ago=5)])
    with db.session() as session:
        (case,) = session.scalars(select(CaseRow)).all()
        assert case.post_count == 3  # the follow-up and the bystander joined Jo's case, no second item
    item_mention = first_id
    mark_seen(db, item_id, item_mention, "ana", now=NOW)  # ana reads the whole case again

    reply = queue_reply(db, item_id, "ana", "Sorry Jo, we're on both", now=NOW)
    answered = later["101"][0]
    assert reply.mention_id == answered != item_mention  # Jo's newest post, not the bystander's, not the first
    with db.session() as session:
        outbox = session.get(OutboxRow, reply.outbox_id)
        queued = session.scalars(select(AuditRow).where(AuditRow.action == "reply_queued")).one()
    assert outbox is not None and (outbox.payload["mention_id"], outbox.payload["external_id"]) == (answered, "101")
    assert queued.mention_id == answered and queued.detail["answers"] == "101"

    source = PostingSource()
    deliver(db, source)
    assert source.posted == [("101", "Sorry Jo, we're on both")]  # posted in answer to the newest post
    with db.session() as session:
        row = session.get(ReplyRow, reply.id)
        brand_post = session.scalars(select(CasePostRow).where(CasePostRow.from_brand)).one()
    assert row is not None and (row.status, row.mention_id) == ("posted", answered)
    assert (brand_post.via, brand_post.parent_external_id) == ("brandmon", "101")


def test_a_reply_without_a_case_answers_the_items_own_post(db: Database) -> None:
    config = settings()
    mention_id, item_id = opened_case(db, config)
    with db.session() as session:  # an item from before cases (or whose case was purged)
        case = session.scalars(select(CaseRow)).one()
        case.queue_item_id = None
    reply = queue_reply(db, item_id, "ana", "Sorry Jo, engineers are on it", now=NOW)
    assert reply.mention_id == mention_id


def test_the_responders_own_reply_read_back_is_no_change_but_others_posts_are(db: Database) -> None:
    config = settings()
    mention_id, item_id = opened_case(db, config)
    queue_reply(db, item_id, "ana", "Sorry Jo, engineers are on it", now=NOW)
    source = PostingSource()
    deliver(db, source)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)  # the page after sending, with ana's reply on it
    seen = current_thread_state(db, mention_id)

    # the source reads the brand's own posts: ana's reply comes back from the network
    seed(db, config, [post("9001", "Sorry Jo, engineers are on it", handle="KestrelMobile", parent_id="100",
                           conversation_id="100", minutes_ago=-1, raw={"from_brand": True})])
    assert current_thread_state(db, mention_id) == seen
    second = queue_reply(db, item_id, "ana", "Update: it should be back within the hour", now=NOW, seen=seen)
    deliver(db, source)
    with db.session() as session:
        assert session.get(ReplyRow, second.id).status == "posted"  # type: ignore[union-attr]

    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    seed(db, config, [post("9500", "Jo, a refund is on its way", handle="KestrelMobile", parent_id="100",
                           conversation_id="100", minutes_ago=-2, raw={"from_brand": True})])  # typed in the app
    with pytest.raises(ThreadChanged, match="reply was added"):
        queue_reply(db, item_id, "ana", "One more thing", now=NOW)

    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    seed(db, config, [post("103", "@KestrelMobile still nothing", parent_id="9500", conversation_id="100",
                           minutes_ago=-3)])  # the customer wrote again: the item is back to "new"
    claim(db, item_id, "ana", now=NOW)
    with pytest.raises(ThreadChanged, match="new posts arrived"):
        queue_reply(db, item_id, "ana", "One more thing", now=NOW)
