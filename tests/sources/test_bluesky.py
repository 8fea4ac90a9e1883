"""Bluesky source through the real atproto SDK over a mock transport; every request and answer lexicon-checked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.domain import ReplyPath
from core.storage import Database
from core.storage.schema import SourceStateRow
from monitor.pipeline.ingest import poll_source
from sources import REGISTRY, source_class
from sources.base import FatalSourceError, RateLimited
from sources.bluesky import BlueskySource, graphemes, search_string
from sources.reply_limits import ReplyRejected
from tests.support.bluesky import (
    BRAND_DID,
    Answer,
    BlueskyServer,
    bluesky_post,
    empty,
    login_answers,
    notification,
    ok,
    served_source,
    xrpc_error,
)
from tests.support.lexicon import check, lexicon
from tests.support.sources import no_network

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REAL_POST = bluesky_post()
NOTES = "app.bsky.notification.listNotifications"
SEEN = "app.bsky.notification.updateSeen"


def _answers(**extra: Answer | list[Answer]) -> dict[str, Answer | list[Answer]]:
    """Login, one mention notification of the real post, getPosts and a search page holding it."""
    page = {"cursor": "2026-03-02T08:59:00Z", "notifications": [notification(REAL_POST)]}
    return login_answers(**{NOTES: ok(NOTES, page),
                            "app.bsky.feed.getPosts": ok("app.bsky.feed.getPosts", {"posts": [REAL_POST]}),
                            "app.bsky.feed.searchPosts": ok("app.bsky.feed.searchPosts",
                                                            {"posts": [REAL_POST], "cursor": "1"}),
                            SEEN: empty(SEEN), **extra})


def test_registered_and_names_its_secrets() -> None:
    assert REGISTRY["bluesky"] == "sources.bluesky:BlueskySource"
    assert source_class("bluesky") is BlueskySource
    assert BlueskySource.required_secrets() == ("BRANDMON_BLUESKY_HANDLE", "BRANDMON_BLUESKY_APP_PASSWORD")
    from core.settings import Secrets

    with pytest.raises(FatalSourceError, match="BRANDMON_BLUESKY_APP_PASSWORD"):
        BlueskySource(name="b", brand="k", options={}, secrets=Secrets())


def test_poll_reads_notifications_and_search(tmp_path: Path) -> None:
    server = BlueskyServer(_answers())
    batch = served_source(server, tmp_path / "s.session").poll(None)
    assert server.names()[:3] == ["com.atproto.server.createSession", "app.bsky.actor.getProfile", NOTES]
    (notes,) = server.sent(NOTES)
    assert sorted(notes["reasons"]) == ["mention", "quote", "reply"] and "cursor" not in notes
    (search,) = server.sent("app.bsky.feed.searchPosts")
    assert search["sort"] == "latest" and search["q"] == "kestrel" and "since" not in search
    (mention,) = batch.mentions
    assert mention.external_id == REAL_POST["uri"]
    assert mention.raw["author_did"] == REAL_POST["author"]["did"]
    assert mention.author_handle == REAL_POST["author"]["handle"]
    assert mention.url == "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
    assert mention.reply_path is ReplyPath.API and "from_brand" not in mention.raw
    assert mention.addressed  # it came as a notification (and was found by search too): it speaks to the brand
    state = json.loads(batch.cursor or "{}")
    assert state["notified_until"] == state["seen_pending"] == REAL_POST["indexedAt"]
    assert state["since"] == REAL_POST["record"]["createdAt"].replace(".735Z", ".735000Z")
    assert SEEN not in server.names()  # nothing is marked seen before the batch is stored


def _stored_cursor(db: Database) -> dict[str, object]:
    with db.session() as session:
        state = session.get(SourceStateRow, "kestrel-bsky")
        assert state is not None and state.cursor
        return dict(json.loads(state.cursor))


def test_seen_is_marked_only_for_a_stored_batch(tmp_path: Path, sqlite_db: Database) -> None:
    newer = {**REAL_POST, "indexedAt": "2026-03-02T08:59:30.000Z"}
    pages = [ok(NOTES, {"notifications": [notification(REAL_POST)]}),
             ok(NOTES, {"notifications": [notification(REAL_POST)]}),
             ok(NOTES, {"notifications": [notification(newer, reason="reply"), notification(REAL_POST)]})]
    server = BlueskyServer(_answers(**{NOTES: pages}))
    lost = served_source(server, tmp_path / "s.session").poll(None)  # read, then lost in a crash before storing
    assert lost.mentions and SEEN not in server.names()
    source = served_source(server, tmp_path / "s.session")  # the restart polls from the stored cursor: none
    assert poll_source(sqlite_db, source, now=NOW).stored == 1
    assert SEEN not in server.names()  # the stored cursor held no batch, so nothing was marked seen
    stored = _stored_cursor(sqlite_db)
    assert stored["seen_pending"] == REAL_POST["indexedAt"]
    assert poll_source(sqlite_db, source, now=NOW).error is None
    assert server.sent(SEEN) == [{"seenAt": REAL_POST["indexedAt"]}]  # what the stored batch held, once
    after = _stored_cursor(sqlite_db)
    assert after["seen_pending"] == after["notified_until"] == newer["indexedAt"]


def test_new_notifications_are_read_back_to_the_last_stored_one(tmp_path: Path) -> None:
    def at(minute: int) -> str:
        return f"2026-03-02T08:{minute:02d}:00.000Z"

    first = {"cursor": "p2", "notifications": [notification(REAL_POST, indexed_at=at(m)) for m in (50, 40)]}
    second = {"cursor": "p3", "notifications": [notification(REAL_POST, indexed_at=at(m)) for m in (30, 20)]}
    server = BlueskyServer(_answers(**{NOTES: [ok(NOTES, first), ok(NOTES, second)]}))
    source = served_source(server, tmp_path / "s.session", query=None)
    cursor = json.dumps({"notified_until": at(25)})
    batch = source.poll(cursor)
    assert [p.get("cursor") for p in server.sent(NOTES)] == [None, "p2"]  # stopped at the page reaching 08:25
    assert json.loads(batch.cursor or "{}")["notified_until"] == at(50)


def test_a_failed_update_seen_is_tried_again_and_does_not_stop_the_poll(tmp_path: Path) -> None:
    failing = xrpc_error(SEEN, 500, "InternalServerError", "try later")
    server = BlueskyServer(_answers(**{SEEN: [failing, empty(SEEN)]}))
    source = served_source(server, tmp_path / "s.session", query=None)
    pending = json.dumps({"notified_until": REAL_POST["indexedAt"], "seen_pending": REAL_POST["indexedAt"]})
    kept = source.poll(pending)  # no notification newer than the stored one: the pending mark is all there is
    assert json.loads(kept.cursor or "{}")["seen_pending"] == REAL_POST["indexedAt"]
    done = source.poll(kept.cursor)
    assert server.sent(SEEN) == [{"seenAt": REAL_POST["indexedAt"]}] * 2
    assert json.loads(done.cursor or "{}")["seen_pending"] is None


def test_a_second_instance_reuses_the_kept_session(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kept = tmp_path / "state" / "kestrel-bsky.session"
    server = BlueskyServer(_answers())
    first = served_source(server, kept)
    first.poll(None)
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.parent.stat().st_mode & 0o777 == 0o700
    session = json.loads(kept.read_text())["session"]
    assert server.names().count("com.atproto.server.createSession") == 1
    second = served_source(server, kept)  # a restart
    second.poll(None)
    assert server.names().count("com.atproto.server.createSession") == 1
    assert server.tokens[-1][1] == f"Bearer {session.split(':::')[2]}"
    assert session not in caplog.text and session.split(":::")[3] not in json.dumps(second.redacted())


def test_an_expired_kept_session_is_refreshed_not_recreated(tmp_path: Path) -> None:
    from sources.bluesky_session import SessionFile
    from tests.support.bluesky import LONG_AGO, session_body, session_string

    kept = tmp_path / "s.session"
    old = session_string(access_exp=LONG_AGO)
    SessionFile(kept, identifier="kestrel.example", service="https://bsky.social").save(old)
    refreshed = session_body("com.atproto.server.refreshSession", tag=".refreshed")
    server = BlueskyServer(_answers(**{"com.atproto.server.refreshSession":
                                       ok("com.atproto.server.refreshSession", refreshed)}))
    served_source(server, kept).poll(None)
    assert "com.atproto.server.createSession" not in server.names()
    assert server.names()[0] == "com.atproto.server.refreshSession"
    assert server.tokens[0][1] == f"Bearer {old.split(':::')[3]}"  # refreshed with the kept refresh token
    assert refreshed["accessJwt"] in json.loads(kept.read_text())["session"]


def test_a_refused_refresh_creates_a_new_session(tmp_path: Path) -> None:
    from sources.bluesky_session import SessionFile
    from tests.support.bluesky import LONG_AGO, session_string

    kept = tmp_path / "s.session"
    SessionFile(kept, identifier="kestrel.example", service="https://bsky.social").save(
        session_string(access_exp=LONG_AGO))
    refresh = xrpc_error("com.atproto.server.refreshSession", 400, "ExpiredToken", "Token has expired")
    server = BlueskyServer(_answers(**{"com.atproto.server.refreshSession": refresh}))
    served_source(server, kept).poll(None)
    assert server.names()[:2] == ["com.atproto.server.refreshSession", "com.atproto.server.createSession"]
    assert ".kept" not in json.loads(kept.read_text())["session"]


def test_a_session_revoked_while_running_is_replaced_once(tmp_path: Path) -> None:
    page = {"notifications": [notification(REAL_POST)]}
    revoked = xrpc_error(NOTES, 401, "AuthenticationRequired", "Token is revoked")
    server = BlueskyServer(_answers(**{NOTES: [revoked, ok(NOTES, page)]}))
    batch = served_source(server, tmp_path / "s.session").poll(None)
    assert server.names().count("com.atproto.server.createSession") == 2 and batch.mentions
    twice = BlueskyServer(_answers(**{NOTES: [revoked, revoked]}))
    with pytest.raises(FatalSourceError, match="refused"):
        served_source(twice, tmp_path / "t.session").poll(None)


def test_429_becomes_rate_limited_at_the_reset_header(tmp_path: Path) -> None:
    limited = xrpc_error(NOTES, 429, "RateLimitExceeded", "Rate Limit Exceeded",
                         {"ratelimit-reset": "1772442000", "ratelimit-remaining": "0"})
    source = served_source(BlueskyServer(_answers(**{NOTES: limited})), tmp_path / "s.session")
    with pytest.raises(RateLimited) as caught:
        source.poll(None)
    assert caught.value.retry_at == datetime.fromtimestamp(1772442000, UTC)


def test_a_thread_gate_blocks_the_reply_with_its_reason(tmp_path: Path) -> None:
    gate = {"$type": "app.bsky.feed.threadgate", "post": REAL_POST["uri"], "createdAt": "2023-09-28T12:49:37.000Z",
            "allow": [{"$type": "app.bsky.feed.threadgate#followerRule"}]}
    check(lexicon("app.bsky.feed.threadgate")["defs"]["main"], gate, "app.bsky.feed.threadgate")
    gated = {**REAL_POST, "viewer": {"replyDisabled": True},
             "threadgate": {"uri": REAL_POST["uri"].replace("feed.post", "feed.threadgate"), "cid": REAL_POST["cid"],
                            "record": gate, "lists": []}}
    closed = {**gated, "threadgate": {**gated["threadgate"], "record": {**gate, "allow": []}}}
    for post, reason in ((gated, "lets only the author's followers reply"), (closed, "turned replies off")):
        server = BlueskyServer(_answers(**{"app.bsky.feed.getPosts": ok("app.bsky.feed.getPosts", {"posts": [post]})}))
        (mention,) = served_source(server, tmp_path / "s.session", query=None).poll(None).mentions
        assert mention.reply_path is ReplyPath.BLOCKED and reason in (mention.reply_path_reason or "")


def test_brand_posts_are_kept_marked_and_linked_to_what_they_answer(tmp_path: Path) -> None:
    from tests.support.bluesky import brand_post

    answer = brand_post("3kestrelreply1", "Sorry about that, DM us", indexed_at="2026-03-02T08:59:10.000Z",
                        reply_to=REAL_POST)
    feed = {"feed": [{"post": answer}]}
    server = BlueskyServer(_answers(**{"app.bsky.feed.getAuthorFeed": ok("app.bsky.feed.getAuthorFeed", feed),
                                       "app.bsky.feed.searchPosts": ok("app.bsky.feed.searchPosts",
                                                                       {"posts": [answer]})}))
    batch = served_source(server, tmp_path / "s.session", brand_posts=True).poll(None)
    (sent,) = server.sent("app.bsky.feed.getAuthorFeed")
    assert sent["actor"] == BRAND_DID and sent["filter"] == "posts_with_replies"
    own = next(m for m in batch.mentions if m.raw.get("from_brand"))
    assert own.reply_path is ReplyPath.BLOCKED and own.reply_path_reason == "the brand's own post"
    assert own.parent_id == REAL_POST["uri"] and own.conversation_id == REAL_POST["uri"]
    customer = next(m for m in batch.mentions if m.external_id == REAL_POST["uri"])  # what the case store links
    assert not customer.raw.get("from_brand") and own.parent_id == customer.external_id
    assert json.loads(batch.cursor or "{}")["own_since"] == answer["indexedAt"]
    without = BlueskyServer(_answers(**{"app.bsky.feed.searchPosts": ok("app.bsky.feed.searchPosts",
                                                                        {"posts": [answer]})}))
    kept = served_source(without, tmp_path / "t.session").poll(None).mentions
    assert [m.external_id for m in kept] == [REAL_POST["uri"]]  # the brand's own post is no customer mention
    assert "app.bsky.feed.getAuthorFeed" not in without.names()


def test_reply_record_has_strong_refs_facets_and_langs(tmp_path: Path) -> None:
    created = {"uri": f"at://{BRAND_DID}/app.bsky.feed.post/3kestrelreply1", "cid": REAL_POST["cid"]}
    server = BlueskyServer(_answers(**{"com.atproto.repo.createRecord": ok("com.atproto.repo.createRecord",
                                                                           created)}))
    source = served_source(server, tmp_path / "s.session")
    mention = source.normalise({**REAL_POST, "record": {**REAL_POST["record"], "langs": ["en"], "reply": {
        "root": {"uri": "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheroot0001",
                 "cid": REAL_POST["cid"]}, "parent": {"uri": REAL_POST["uri"], "cid": REAL_POST["cid"]}}}})
    text = "@test.marshal.dev thanks! Status: https://status.kestrel.example"
    posted = source.reply(mention, text, idempotency_key="reply:17")
    (body,) = server.sent("com.atproto.repo.createRecord")
    record = body["record"]
    check(lexicon("app.bsky.feed.post")["defs"]["main"], record, "app.bsky.feed.post")
    assert body["repo"] == BRAND_DID
    parent = record["reply"]["parent"]
    assert (parent["uri"], parent["cid"]) == (REAL_POST["uri"], REAL_POST["cid"])
    assert record["reply"]["root"]["uri"].endswith("3kaheroot0001")
    assert record["langs"] == ["en"]
    kinds = sorted(f["features"][0]["$type"] for f in record["facets"])
    assert kinds == ["app.bsky.richtext.facet#link", "app.bsky.richtext.facet#mention"]
    assert posted.external_id == created["uri"]


def test_300_graphemes_checked_before_queueing(tmp_path: Path) -> None:
    source = served_source(BlueskyServer(_answers()), tmp_path / "s.session")
    assert graphemes("e\u0301") == 1
    source.check_reply("é" * 300)
    with pytest.raises(ReplyRejected):
        source.check_reply("x" * 301)


def test_find_reply_sees_the_brands_own_reply_in_the_thread(tmp_path: Path) -> None:
    from tests.support.bluesky import brand_post

    mine = brand_post("3kestrelreply1", "we're on it", indexed_at="2026-03-02T09:00:00.000Z", reply_to=REAL_POST)
    thread = {"thread": {"$type": "app.bsky.feed.defs#threadViewPost", "post": REAL_POST,
                         "replies": [{"$type": "app.bsky.feed.defs#threadViewPost", "post": mine}]}}
    server = BlueskyServer(_answers(**{"app.bsky.feed.getPostThread": ok("app.bsky.feed.getPostThread", thread)}))
    source = served_source(server, tmp_path / "s.session")
    mention = source.normalise(REAL_POST)
    found = source.find_reply(mention, "we're on it")
    assert found is not None and found.external_id == mine["uri"]
    assert source.find_reply(mention, "something else") is None


def test_query_translation_states_its_limits() -> None:
    assert search_string('kestrel AND ("kestrel mobile" OR @kestrelmobile) -spam') == 'kestrel "kestrel mobile"'
    assert search_string(None) is None
