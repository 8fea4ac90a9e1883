"""Reply drafting and checks, and the reply path: queue -> outbox -> source.reply -> stored id and URL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.domain import ReplyPath
from core.settings import SavedReplySettings
from core.storage import Database
from core.storage.schema import OutboxRow, QueueItemRow, ReplyRow
from monitor.pipeline.deliver import Deliverer
from monitor.queue.context import customer_context, mark_seen
from monitor.queue.items import QueueConflict, audit_trail, claim
from monitor.queue.replies import (
    ReplyNotifier,
    ReplyRefused,
    ThreadChanged,
    add_saved_reply,
    check_reply,
    first_name,
    queue_reply,
    render_saved_reply,
    saved_replies,
    weighted_length,
)
from sources.base import RateLimited, Source
from sources.replay import ReplaySource
from tests.support.queue import NOW, Labels, PostingSource, post, seed
from tests.support.settings import make_settings


def deliverer(db: Database, source: Source) -> Deliverer:
    return Deliverer(db, {"reply": ReplyNotifier(db, {source.name: source}, clock=lambda: NOW)},
                     messages_per_second=1000, clock=lambda: NOW)


@pytest.fixture
def opened(db: Database) -> tuple[int, int]:
    """Return (mention id, item id) of a post claimed by ana, who has opened its thread."""
    mention_id, item_id = seed(db, make_settings(), [post("100", conversation_id="100")])["100"]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    return mention_id, item_id


# -- drafting -----------------------------------------------------------------------------------------------

def test_x_counts_links_as_23_and_wide_characters_as_2() -> None:
    assert weighted_length("hello", "x") == 5
    assert weighted_length("see https://support.kestrel.example/outages/2026/11/19?region=north ok", "x") == 4 + 23 + 3
    assert weighted_length("こんにちは", "x") == 10
    assert weighted_length("thanks 🎉", "x") == 9
    assert weighted_length("こんにちは", "reddit") == 5


def test_check_reply_limits_per_network_and_warns_about_links_on_x() -> None:
    assert check_reply("a" * 280, "x").ok
    too_long = check_reply("a" * 281, "x")
    assert too_long.errors == ["the reply is 281 characters as x counts them; the limit is 280"]
    assert check_reply("a" * 281, "reddit").ok
    assert not check_reply("   ", "reddit").ok
    linked = check_reply("Status page: https://status.kestrel.example", "x")
    assert linked.ok and "costs more" in linked.warnings[0]
    assert check_reply("Status page: https://status.kestrel.example", "reddit").warnings == []


def test_saved_replies_fill_variables_and_refuse_unknown_ones() -> None:
    text = render_saved_reply("Hi {first_name}, sorry about that. {{ref}} – {brand}", author_name="Jo Bloggs",
                              handle="jo_bloggs", brand="Kestrel Mobile")
    assert text == "Hi Jo, sorry about that. {ref} – Kestrel Mobile"
    assert first_name("🎧 ~Sam~ O'Neil", "sam") == "Sam"
    assert first_name("1234", "digits") == "@digits"
    assert first_name("essexpastyuk", "EssexPastyUK") == "@EssexPastyUK"  # the handle again is not a name
    assert first_name("mike_r_88", "mike_r_88") == "@mike_r_88"
    with pytest.raises(ReplyRefused, match=r"unknown variable \{brand.__class__\}"):
        render_saved_reply("{brand.__class__}", author_name="Jo", handle="jo", brand="K")


def test_saved_replies_come_from_config_and_database(sqlite_db: Database) -> None:
    configured = [SavedReplySettings(name="outage", text="Hi {first_name}, we're on it.", kind="respond"),
                  SavedReplySettings(name="thanks", text="Thank you {first_name}!", kind="thank"),
                  SavedReplySettings(name="dm", text="Please DM us", networks=["reddit"])]
    add_saved_reply(sqlite_db, name="billing", text="Hi {name}, billing will call you.", actor="admin", network="x")
    with pytest.raises(ReplyRefused, match="unknown variable"):
        add_saved_reply(sqlite_db, name="bad", text="Hi {surname}", actor="admin")
    names = [r.name for r in saved_replies(sqlite_db, configured, network="x", kind="respond", brand="Kestrel Mobile")]
    assert names == ["outage", "billing"]


# -- the reply path -----------------------------------------------------------------------------------------

def test_a_reply_goes_through_the_outbox_and_the_source_and_its_id_is_stored(db: Database,
                                                                            opened: tuple[int, int]) -> None:
    mention_id, item_id = opened
    source = PostingSource()
    reply = queue_reply(db, item_id, "ana", "Hi Jo, sorry: engineers are on it.", now=NOW)
    assert source.posted == []  # nothing leaves before the outbox is drained
    assert deliverer(db, source).deliver_due() == 1
    assert source.posted == [("100", "Hi Jo, sorry: engineers are on it.")]
    with db.session() as session:
        stored = session.get(ReplyRow, reply.id)
        item = session.get(QueueItemRow, item_id)
        outbox = session.get(OutboxRow, reply.outbox_id)
    assert stored is not None and item is not None and outbox is not None
    assert (stored.status, stored.external_id, stored.url) == (
        "posted", "9001", "https://x.com/KestrelMobile/status/9001")
    assert (item.status, item.first_response_at) == ("replied", NOW + timedelta(minutes=1))
    assert (outbox.kind, outbox.status, outbox.result["external_id"]) == ("reply", "sent", "9001")
    assert [r.action for r in reversed(audit_trail(db, item_id=item_id))] == [
        "queued", "claimed", "reply_queued", "reply_posted"]
    assert deliverer(db, source).deliver_due() == 0
    assert customer_context(db, mention_id).earlier_replies[0].url == "https://x.com/KestrelMobile/status/9001"


def test_a_reply_is_refused_until_the_responder_has_seen_a_changed_thread(db: Database,
                                                                         opened: tuple[int, int]) -> None:
    mention_id, item_id = opened
    seed(db, make_settings(), [post("101", "@KestrelMobile still nothing!!", conversation_id="100",
                                    parent_id="100", minutes_ago=1)], {"101": Labels()})
    with pytest.raises(ThreadChanged, match=r"the thread changed after you opened it \(new posts arrived"):
        queue_reply(db, item_id, "ana", "Hi Jo, on it.", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    assert queue_reply(db, item_id, "ana", "Hi Jo, on it.", now=NOW).status == "queued"
    with pytest.raises(ReplyRefused, match="still on its way"):
        queue_reply(db, item_id, "ana", "And again", now=NOW)


def test_a_reply_needs_the_claim_and_an_opened_thread(db: Database) -> None:
    mention_id, item_id = seed(db, make_settings(), [post("100")])["100"]
    assert item_id is not None
    with pytest.raises(QueueConflict, match="claim item"):
        queue_reply(db, item_id, "ana", "Hi", now=NOW)
    claim(db, item_id, "ana", now=NOW, lease_min=10)
    with pytest.raises(ThreadChanged, match="open the item"):
        queue_reply(db, item_id, "ana", "Hi", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    with pytest.raises(QueueConflict, match="claim item"):
        queue_reply(db, item_id, "ana", "Hi", now=NOW + timedelta(minutes=10))  # the lease ran out
    with pytest.raises(ReplyRefused, match="limit is 280"):
        queue_reply(db, item_id, "ana", "x" * 300, now=NOW)


def test_posts_that_must_be_answered_in_the_app_are_refused_with_the_reason(db: Database) -> None:
    blocked = post("7", reply_path=ReplyPath.BLOCKED, reply_path_reason="the author's replies are limited")
    mention_id, item_id = seed(db, make_settings(), [blocked])["7"]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    with pytest.raises(ReplyRefused, match=r"blocked.*the author's replies are limited"):
        queue_reply(db, item_id, "ana", "Hi", now=NOW)


def test_a_source_that_cannot_reply_fails_the_reply_for_good(db: Database, opened: tuple[int, int],
                                                           tmp_path: Path) -> None:
    _, item_id = opened
    replay = ReplaySource(name="x-kestrel", brand="Kestrel Mobile", options={"path": str(tmp_path / "none.jsonl")})
    reply = queue_reply(db, item_id, "ana", "Hi Jo", now=NOW)
    assert deliverer(db, replay).deliver_due() == 0
    with db.session() as session:
        stored = session.get(ReplyRow, reply.id)
        outbox = session.get(OutboxRow, reply.outbox_id)
    assert stored is not None and outbox is not None
    assert stored.status == "failed" and "cannot post replies" in (stored.error or "")
    assert outbox.status == "dead"
    assert audit_trail(db, item_id=item_id)[0].action == "reply_failed"
    mark_seen(db, item_id, opened[0], "ana", now=NOW)
    assert queue_reply(db, item_id, "ana", "Second try", now=NOW).status == "queued"  # a failed reply blocks nothing


def test_a_rate_limited_reply_waits_in_the_outbox_until_the_network_allows(db: Database,
                                                                          opened: tuple[int, int]) -> None:
    _, item_id = opened
    source = PostingSource(fail_with=RateLimited(NOW + timedelta(minutes=15)))
    reply = queue_reply(db, item_id, "ana", "Hi Jo", now=NOW)
    assert deliverer(db, source).deliver_due() == 0
    with db.session() as session:
        outbox = session.execute(select(OutboxRow).where(OutboxRow.id == reply.outbox_id)).scalar_one()
        stored = session.get(ReplyRow, reply.id)
    assert (outbox.status, outbox.next_attempt_at) == ("pending", NOW + timedelta(minutes=15))
    assert stored is not None and stored.status == "queued"
    source.fail_with = None
    later = Deliverer(db, {"reply": ReplyNotifier(db, {source.name: source})}, messages_per_second=1000,
                      clock=lambda: NOW + timedelta(minutes=15))
    assert later.deliver_due() == 1 and len(source.posted) == 1


def test_a_crash_after_posting_is_settled_without_posting_twice(db: Database, opened: tuple[int, int]) -> None:
    _, item_id = opened
    source = PostingSource()
    reply = queue_reply(db, item_id, "ana", "Hi Jo", now=NOW)
    notifier = ReplyNotifier(db, {source.name: source}, clock=lambda: NOW)
    run = Deliverer(db, {"reply": notifier}, messages_per_second=1000, clock=lambda: NOW)
    delivery = run._claim(reply.outbox_id or 0)  # the row is "sending", as a process that died would leave it
    assert delivery is not None
    notifier.send(delivery)  # posted and recorded, then the process died before marking the outbox row sent
    later = Deliverer(db, {"reply": notifier}, messages_per_second=1000, clock=lambda: NOW + timedelta(minutes=5))
    assert later.recover_in_doubt() == 1
    with db.session() as session:
        outbox = session.get(OutboxRow, reply.outbox_id)
    assert outbox is not None and outbox.status == "sent" and outbox.result["external_id"] == "9001"
    assert len(source.posted) == 1
