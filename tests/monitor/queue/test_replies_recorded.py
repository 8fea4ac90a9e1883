"""The reply path against the real X and Reddit sources, replaying recorded API responses (never the network)."""

from __future__ import annotations

import pytest

from core.storage import Database
from core.storage.schema import OutboxRow, QueueItemRow, ReplyRow
from monitor.pipeline.deliver import Deliverer
from monitor.queue.context import mark_seen
from monitor.queue.items import audit_trail, claim
from monitor.queue.replies import ReplyNotifier, queue_reply
from sources.base import Source
from sources.reddit import RedditSource
from sources.x import XSource
from tests.support.queue import NOW, post, seed
from tests.support.settings import make_settings
from tests.support.sources import PRAW, TWEEPY, reddit_secrets, replay, x_secrets


def claimed_and_opened(db: Database, external_id: str, *, network: str, source_name: str,
                       conversation_id: str | None = None) -> int:
    """Queue one post from `source_name`, claimed by ana who has opened it; return the item id."""
    mention = post(external_id, "kestrel lost my order", network=network, conversation_id=conversation_id)
    mention_id, item_id = seed(db, make_settings(), [mention], source_name=source_name)[external_id]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    return item_id


def deliver(db: Database, source: Source) -> int:
    return Deliverer(db, {"reply": ReplyNotifier(db, {source.name: source}, clock=lambda: NOW)},
                     messages_per_second=1000, clock=lambda: NOW).deliver_due()


def stored_reply(db: Database, reply_id: int) -> tuple[ReplyRow, OutboxRow, QueueItemRow]:
    with db.session() as session:
        reply = session.get(ReplyRow, reply_id)
        assert reply is not None
        outbox = session.get(OutboxRow, reply.outbox_id)
        item = session.get(QueueItemRow, reply.queue_item_id)
    assert outbox is not None and item is not None
    return reply, outbox, item


def test_an_x_reply_is_posted_by_the_x_source_and_its_id_stored(sqlite_db: Database) -> None:
    item_id = claimed_and_opened(sqlite_db, "1455953449422516226", network="x", source_name="x-kestrel")
    source = XSource(name="x-kestrel", brand="Kestrel Mobile", query="kestrel",
                     options={"handle": "KestrelMobile", "kinds": ["search"]}, secrets=x_secrets())
    reply = queue_reply(sqlite_db, item_id, "ana", "Hi Jo, so sorry. We have found your order.", now=NOW)
    with replay(TWEEPY / "test_client_create_and_delete_tweet.yaml", x_requests=True) as playback:
        assert deliver(sqlite_db, source) == 1
    assert [request.method for request in playback.sent] == ["POST"]
    sent = playback.sent[0]
    assert sent.uri == "https://api.twitter.com/2/tweets"
    assert b'"in_reply_to_tweet_id": "1455953449422516226"' in sent.body
    row, outbox, item = stored_reply(sqlite_db, reply.id)
    assert (row.status, row.external_id, row.url) == (
        "posted", "1456012973835788293", "https://x.com/KestrelMobile/status/1456012973835788293")
    assert (outbox.status, item.status) == ("sent", "replied")
    assert [r.action for r in audit_trail(sqlite_db, item_id=item_id)][:2] == ["reply_posted", "reply_queued"]


@pytest.mark.parametrize(("recording", "external_id", "posted_id"), [
    ("TestComment.test_reply.json", "t1_d1616q2", "t1_d1680wu"),
    ("TestSubmission.test_reply.json", "t3_4b1tfm", "t1_d162ara"),
])
def test_a_reddit_reply_is_posted_by_the_reddit_source_and_its_id_stored(
        sqlite_db: Database, recording: str, external_id: str, posted_id: str) -> None:
    item_id = claimed_and_opened(sqlite_db, external_id, network="reddit", source_name="reddit-kestrel",
                                 conversation_id="t3_4b1tfm")
    source = RedditSource(name="reddit-kestrel", brand="Kestrel Mobile", query="kestrel",
                          options={"user_agent": "brandmon-tests/0.1 by brandmon", "kinds": ["search"]},
                          secrets=reddit_secrets())
    reply = queue_reply(sqlite_db, item_id, "ana", "Sorry to hear that, we have found your order.", now=NOW)
    with replay(PRAW / recording) as playback:
        assert deliver(sqlite_db, source) == 1
    assert any(request.path == "/api/comment/" for request in playback.sent)
    row, outbox, item = stored_reply(sqlite_db, reply.id)
    assert (row.status, row.external_id) == ("posted", posted_id)
    assert row.url is not None and row.url.startswith("https://www.reddit.com/") and posted_id[3:] in row.url
    assert (outbox.status, item.status) == ("sent", "replied")
