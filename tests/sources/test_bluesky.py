"""Bluesky source through the real atproto SDK over a mock transport; every request and answer lexicon-checked."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from atproto import Client
from pydantic import SecretStr

from core.domain import ReplyPath
from core.settings import Secrets
from sources import REGISTRY, source_class
from sources.base import FatalSourceError, RateLimited
from sources.bluesky import BlueskySource, graphemes, search_string
from sources.reply_limits import ReplyRejected
from tests.support.lexicon import check, check_input, check_output, check_params, lexicon, recorded
from tests.support.sources import no_network

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BRAND_DID = "did:plc:kestrelmobilebrand00000"
#: A real post view from the SDK's recorded getPostThread answer.
REAL_POST = recorded("thread_view_post_with_embed_media.json")["thread"]["post"]


def _jwt(scope: str) -> str:
    """An unsigned token of the shape the SDK decodes (the client never verifies the signature)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"scope": scope, "sub": BRAND_DID, "iat": 1772438400, "exp": 4102444800}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2ln"


def _session() -> dict[str, Any]:
    body = {"accessJwt": _jwt("com.atproto.appPass"), "refreshJwt": _jwt("com.atproto.refresh"),
            "handle": "kestrel.example", "did": BRAND_DID}
    check_output("com.atproto.server.createSession", body)
    return body


def _notifications() -> dict[str, Any]:
    body = {"cursor": "2026-03-02T08:59:00Z", "notifications": [{
        "uri": REAL_POST["uri"], "cid": REAL_POST["cid"], "author": {
            k: REAL_POST["author"][k] for k in ("did", "handle", "displayName")},
        "reason": "mention", "record": REAL_POST["record"], "isRead": False, "indexedAt": REAL_POST["indexedAt"]}]}
    check_output("app.bsky.notification.listNotifications", body)
    return body


class Server:
    """Answers XRPC calls after checking each request against its lexicon; records what was sent."""

    def __init__(self, answers: dict[str, Callable[[], httpx.Response]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        nsid = urlsplit(str(request.url)).path.removeprefix("/xrpc/")
        main = lexicon(nsid)["defs"]["main"]
        if main["type"] == "query":
            params: dict[str, Any] = {}
            for key, value in parse_qsl(urlsplit(str(request.url)).query):
                params.setdefault(key, []).append(value)
            flat = {k: v if main["parameters"]["properties"][k].get("type") == "array" else v[0]
                    for k, v in params.items()}
            check_params(nsid, flat)
            self.calls.append((nsid, flat))
        else:
            body = json.loads(request.content) if request.content else None
            if "input" in main:
                check_input(nsid, body)
            self.calls.append((nsid, body))
        return self.answers[nsid]()


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, json=body, headers=headers)


def _source(server: Server, **options: Any) -> BlueskySource:
    client = Client(base_url="https://bsky.test")
    client.request._client = httpx.Client(transport=httpx.MockTransport(server))
    secrets = Secrets(bluesky_handle=SecretStr("kestrel.example"), bluesky_app_password=SecretStr("app-pass"))
    return BlueskySource(name="kestrel-bsky", brand="kestrel", options=options, query='kestrel OR "kestrel mobile"',
                         secrets=secrets, clock=lambda: NOW, client=client)


def _base_answers() -> dict[str, Callable[[], httpx.Response]]:
    posts = {"posts": [REAL_POST]}
    check_output("app.bsky.feed.getPosts", posts)
    search = {"posts": [REAL_POST], "cursor": "1"}
    check_output("app.bsky.feed.searchPosts", search)
    profile = {"did": BRAND_DID, "handle": "kestrel.example"}
    check_output("app.bsky.actor.getProfile", profile)
    return {"com.atproto.server.createSession": _json(_session()),
            "app.bsky.actor.getProfile": _json(profile),
            "app.bsky.notification.listNotifications": _json(_notifications()),
            "app.bsky.feed.getPosts": _json(posts), "app.bsky.feed.searchPosts": _json(search)}


def test_registered_and_names_its_secrets() -> None:
    assert REGISTRY["bluesky"] == "sources.bluesky:BlueskySource"
    assert source_class("bluesky") is BlueskySource
    assert BlueskySource.required_secrets() == ("BRANDMON_BLUESKY_HANDLE", "BRANDMON_BLUESKY_APP_PASSWORD")
    with pytest.raises(FatalSourceError, match="BRANDMON_BLUESKY_APP_PASSWORD"):
        BlueskySource(name="b", brand="k", options={}, secrets=Secrets())


def test_poll_reads_notifications_and_search_and_keeps_the_session() -> None:
    server = Server(_base_answers())
    source = _source(server)
    batch = source.poll(None)
    names = [name for name, _ in server.calls]
    assert names.count("com.atproto.server.createSession") == 1
    notes = dict(server.calls)["app.bsky.notification.listNotifications"]
    assert sorted(notes["reasons"]) == ["mention", "quote", "reply"]
    search = dict(server.calls)["app.bsky.feed.searchPosts"]
    assert search["sort"] == "latest" and search["q"] == "kestrel"
    (mention,) = batch.mentions
    assert mention.external_id == REAL_POST["uri"]
    assert mention.raw["author_did"] == REAL_POST["author"]["did"]
    assert mention.author_handle == REAL_POST["author"]["handle"]
    assert mention.url.startswith("https://bsky.app/profile/test.marshal.dev/post/")
    assert mention.reply_path is ReplyPath.API
    state = json.loads(batch.cursor or "{}")
    assert state["cursor"] == _notifications()["cursor"] and state["since"]
    kept = source.session_string
    assert kept
    source.poll(batch.cursor)  # the second poll reuses the session: no new createSession
    assert [n for n, _ in server.calls].count("com.atproto.server.createSession") == 1
    assert dict(server.calls[-2:])["app.bsky.feed.searchPosts"]["since"] == state["since"]


def test_429_becomes_rate_limited_at_the_reset_header() -> None:
    answers = _base_answers()
    answers["app.bsky.notification.listNotifications"] = _json(
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, 429,
        {"ratelimit-reset": "1772442000", "ratelimit-remaining": "0"})
    source = _source(Server(answers))
    with pytest.raises(RateLimited) as caught:
        source.poll(None)
    assert caught.value.retry_at == datetime.fromtimestamp(1772442000, UTC)


def test_reply_record_has_strong_refs_facets_and_langs() -> None:
    answers = _base_answers()
    created = {"uri": f"at://{BRAND_DID}/app.bsky.feed.post/3kestrelreply1", "cid": REAL_POST["cid"]}
    check_output("com.atproto.repo.createRecord", created)
    answers["com.atproto.repo.createRecord"] = _json(created)
    server = Server(answers)
    source = _source(server)
    mention = source.normalise({**REAL_POST, "record": {**REAL_POST["record"], "langs": ["en"], "reply": {
        "root": {"uri": "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheroot0001",
                 "cid": REAL_POST["cid"]}, "parent": {"uri": REAL_POST["uri"], "cid": REAL_POST["cid"]}}}})
    text = "@test.marshal.dev thanks! Status: https://status.kestrel.example"
    posted = source.reply(mention, text)
    body = dict(server.calls)["com.atproto.repo.createRecord"]
    record = body["record"]
    check(lexicon("app.bsky.feed.post")["defs"]["main"], record, "app.bsky.feed.post")
    parent = record["reply"]["parent"]
    assert (parent["uri"], parent["cid"]) == (REAL_POST["uri"], REAL_POST["cid"])
    assert record["reply"]["root"]["uri"].endswith("3kaheroot0001")
    assert record["langs"] == ["en"]
    kinds = sorted(f["features"][0]["$type"] for f in record["facets"])
    assert kinds == ["app.bsky.richtext.facet#link", "app.bsky.richtext.facet#mention"]
    assert posted.external_id == created["uri"]


def test_300_graphemes_checked_before_queueing() -> None:
    source = _source(Server(_base_answers()))
    assert graphemes("e\u0301") == 1
    source.check_reply("é" * 300)
    with pytest.raises(ReplyRejected):
        source.check_reply("x" * 301)


def test_find_reply_sees_the_brands_own_reply_in_the_thread() -> None:
    answers = _base_answers()
    mine = {**REAL_POST, "uri": f"at://{BRAND_DID}/app.bsky.feed.post/3kestrelreply1",
            "author": {"did": BRAND_DID, "handle": "kestrel.example"},
            "record": {"$type": "app.bsky.feed.post", "text": "we're on it", "createdAt": "2026-03-02T09:00:00Z"}}
    thread = {"thread": {"$type": "app.bsky.feed.defs#threadViewPost", "post": REAL_POST,
                         "replies": [{"$type": "app.bsky.feed.defs#threadViewPost", "post": mine}]}}
    check_output("app.bsky.feed.getPostThread", thread)
    answers["app.bsky.feed.getPostThread"] = _json(thread)
    source = _source(Server(answers))
    mention = source.normalise(REAL_POST)
    found = source.find_reply(mention, "we're on it")
    assert found is not None and found.external_id == mine["uri"]
    assert source.find_reply(mention, "something else") is None


def test_query_translation_states_its_limits() -> None:
    assert search_string('kestrel AND ("kestrel mobile" OR @kestrelmobile) -spam') == 'kestrel "kestrel mobile"'
    assert search_string(None) is None
