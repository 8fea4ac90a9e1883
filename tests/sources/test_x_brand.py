"""The X source and the brand's own posts: finding a reply whose outcome was lost, and reading the accounts' posts.

Recorded responses come from tweepy's cassettes (GET /2/users/:id/tweets, the user lookup); where a response
needs fields those recordings lack (referenced posts), it is built and checked against the X OpenAPI spec, and
every request sent is checked against the spec too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from core.domain import Mention, ReplyPath
from core.storage import Database
from core.storage.schema import MentionRow
from monitor.pipeline import build_sources
from monitor.pipeline.ingest import poll_source
from sources.base import RetriableError
from sources.x import XSource
from sources.x_posts import same_reply_text
from tests.support.clock import Clock
from tests.support.settings import make_settings
from tests.support.sources import (
    no_network,
    replay,
    snowflake,
    tweepy_interactions,
    x_json,
    x_page,
    x_post,
    x_secrets,
    x_user,
)

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TWITTER_ID = "783214"  # the account tweepy's recordings read
TIMELINE = f"/2/users/{TWITTER_ID}/tweets"
#: The recorded timeline's next_token, which the second page must be asked for with.
RECORDED_NEXT = tweepy_interactions("test_client_get_users_tweets")[0]
TWITTER = x_user(TWITTER_ID, "Twitter", followers=65_000_000, verified=True)
ALICE = x_user("2001", "alice_w")
DEV = x_user("2244994945", "TwitterDev")


def make_source(clock: Clock | None = None, **options: object) -> XSource:
    opts = {"handle": "Twitter", "user_id": TWITTER_ID, "kinds": ["mentions"], **options}
    return XSource(name="tw", brand="Twitter", options=opts, query="twitter", secrets=x_secrets(),
                   clock=clock or Clock(NOW))


def customer_post(at: datetime, text: str = "@Twitter my timeline is empty since this morning") -> Mention:
    post_id = str(snowflake(at, 3))
    return Mention(network="x", external_id=post_id, author_handle="alice_w", author_name="Alice W", text=text,
                   created_at=at, url=f"https://x.com/alice_w/status/{post_id}")


def params(uri: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(uri).query))


# -- find_reply ------------------------------------------------------------------------------------------------
def test_find_reply_pages_the_accounts_posts_since_the_one_answered(tmp_path: Path) -> None:
    asked = customer_post(datetime(2022, 8, 1, 12, 0, tzinfo=UTC))  # older than every recorded post
    reply_at = datetime(2022, 8, 1, 12, 4, tzinfo=UTC)
    ours = x_post(snowflake(reply_at, 1), "@alice_w Sorry Alice! Status: https://t.co/AbCdEf1234 &amp; a fix is "
                  "coming", TWITTER, refs=(("replied_to", asked.external_id),))
    older = x_page([ours], [TWITTER])
    source = make_source()
    recorded = tweepy_interactions("test_client_get_users_tweets")
    with replay([*recorded, x_json("GET", TIMELINE, 200, older)], tmp_path, x_requests=True) as played:
        found = source.find_reply(asked, "Sorry Alice! Status: https://status.x.example/incidents/42 & a fix is coming")
    assert found is not None
    assert (found.external_id, found.url) == (ours["id"], f"https://x.com/Twitter/status/{ours['id']}")
    assert found.posted_at == reply_at
    first, second = (params(uri) for uri in played.uris())
    assert first["since_id"] == second["since_id"] == asked.external_id  # only posts newer than the one answered
    assert "pagination_token" not in first
    assert second["pagination_token"] == json.loads(RECORDED_NEXT.body)["meta"]["next_token"]
    assert {u.kind: u.units for u in source.meter.drain()} == {"owned_read": 3}


def test_find_reply_wants_the_same_post_and_the_same_words(tmp_path: Path) -> None:
    asked = customer_post(datetime(2022, 8, 1, 12, 0, tzinfo=UTC))
    other = customer_post(datetime(2022, 8, 1, 12, 1, tzinfo=UTC), "@Twitter me too")
    at = datetime(2022, 8, 1, 12, 5, tzinfo=UTC)
    page = x_page([
        x_post(snowflake(at, 2), "@alice_w We're on it", TWITTER, refs=(("replied_to", other.external_id),)),
        x_post(snowflake(at, 1), "@alice_w We're on it, sorry", TWITTER, refs=(("replied_to", asked.external_id),)),
        x_post(snowflake(at, 0), "We're on it", TWITTER, refs=(("quoted", asked.external_id),)),
    ], [TWITTER])
    recorded = tweepy_interactions("test_client_get_users_tweets")
    with replay([*recorded, x_json("GET", TIMELINE, 200, page)], tmp_path, x_requests=True):
        assert make_source().find_reply(asked, "We're on it") is None


def test_a_failed_lookup_raises_so_the_outbox_waits_instead_of_posting(tmp_path: Path) -> None:
    asked = customer_post(datetime(2022, 8, 1, 12, 0, tzinfo=UTC))
    problem = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503}
    with replay([x_json("GET", TIMELINE, 503, problem, validate=False)], tmp_path, x_requests=True), \
            pytest.raises(RetriableError, match="reply lookup"):
        make_source().find_reply(asked, "We're on it")


def test_find_reply_resolves_the_posting_account_once_from_its_handle(tmp_path: Path) -> None:
    asked = customer_post(datetime(2022, 8, 1, 12, 0, tzinfo=UTC))
    source = XSource(name="tw", brand="Twitter", options={"handle": "Twitter", "kinds": ["mentions"]},
                     query="twitter", secrets=x_secrets(), clock=Clock(NOW))
    recorded = tweepy_interactions("test_client_get_user") + tweepy_interactions("test_client_get_users_tweets")
    empty = x_json("GET", TIMELINE, 200, x_page([], []))
    with replay([*recorded, empty, empty], tmp_path, x_requests=True) as played:
        assert source.find_reply(asked, "We're on it") is None
        assert source.find_reply(asked, "We're on it") is None
    assert [urlsplit(u).path for u in played.uris()] == ["/2/users/by/username/Twitter", TIMELINE, TIMELINE, TIMELINE]


def test_reply_text_is_compared_as_x_stores_it() -> None:
    stored = {"id": "1", "text": "@alice_w @bob_r Fixed &amp; live: https://t.co/AbCdEf1234"}
    assert same_reply_text(stored, "Fixed & live: https://kestrel.example/status")
    assert same_reply_text(stored, "@alice_w  Fixed & live:\nhttps://kestrel.example/status")
    assert not same_reply_text(stored, "Fixed & live")
    assert not same_reply_text({"id": "1", "text": "@alice_w"}, "   ")
    long_post = {"id": "2", "text": "cut at 280…", "note_post": {"text": "the whole reply " * 20}}
    assert same_reply_text(long_post, "the whole reply " * 20)


# -- the brand's own posts -------------------------------------------------------------------------------------
def test_brand_posts_read_every_account_with_its_own_cursor(db: Database, tmp_path: Path) -> None:
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    customer = x_post(snowflake(at, 1), "@TwitterDev my app key stopped working", ALICE)
    answer = x_post(snowflake(at, 9), "@alice_w Sorry! Regenerate it in the portal and tell us if it still fails",
                    DEV, refs=(("replied_to", customer["id"]),))
    answer["conversation_id"] = customer["id"]
    dev_lookup = {"data": {"id": DEV["id"], "name": "Developers", "username": "TwitterDev"}}
    source = make_source(brand_posts=True, brand_handles=["Twitter", "TwitterDev"])
    first = [*tweepy_interactions("test_client_get_users_mentions"),
             *tweepy_interactions("test_client_get_users_tweets"),
             x_json("GET", "/2/users/by/username/TwitterDev", 200, dev_lookup),
             x_json("GET", f"/2/users/{DEV['id']}/tweets", 200, x_page([answer], [DEV, ALICE]))]
    with replay(first, tmp_path, x_requests=True) as played:
        outcome = poll_source(db, source, now=NOW)
    assert [urlsplit(u).path for u in played.uris()] == [
        f"/2/users/{TWITTER_ID}/mentions", TIMELINE, "/2/users/by/username/TwitterDev", f"/2/users/{DEV['id']}/tweets"]
    assert outcome.error is None and outcome.stored == 10 + 2 + 1
    with db.session() as session:
        rows = {r.external_id: r for r in session.execute(select(MentionRow)).scalars().all()}
    own = {k: r for k, r in rows.items() if (r.raw or {}).get("from_brand") is True}
    assert len(own) == 3 and all(r.reply_path == ReplyPath.BLOCKED.value for r in own.values())
    assert {r.reply_path_reason for r in own.values()} == {"the brand's own post"}
    stored_answer = own[answer["id"]]
    assert (stored_answer.parent_id, stored_answer.conversation_id) == (customer["id"], customer["id"])
    assert stored_answer.author_handle == "TwitterDev" and stored_answer.raw["query_kind"] == "brand_posts"
    customers = [r for r in rows.values() if r.external_id not in own]
    assert len(customers) == 10 and not any((r.raw or {}).get("from_brand") for r in customers)


def test_the_next_poll_asks_each_account_only_for_newer_posts(tmp_path: Path) -> None:
    source = make_source(kinds=["search"], brand_posts=True, brand_handles=["TwitterDev"])
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    newest = x_post(snowflake(at, 5), "New endpoints are live", DEV)
    dev_lookup = {"data": {"id": DEV["id"], "name": "Developers", "username": "TwitterDev"}}
    search = tweepy_interactions("test_client_search_recent_tweets")
    with replay([*search, *tweepy_interactions("test_client_get_users_tweets"),
                 x_json("GET", "/2/users/by/username/TwitterDev", 200, dev_lookup),
                 x_json("GET", f"/2/users/{DEV['id']}/tweets", 200, x_page([newest], [DEV]))], tmp_path,
                x_requests=True):
        batch = source.poll(None)
    state = json.loads(batch.cursor or "")
    assert state["brand_posts"] == {"twitter": {"since_id": "1577730467436138524", "user_id": TWITTER_ID},
                                    "twitterdev": {"since_id": newest["id"], "user_id": DEV["id"]}}
    empty = x_page([], [])
    again = [x_json("GET", route, 200, empty) for route in ("/2/tweets/search/recent", TIMELINE,
                                                             f"/2/users/{DEV['id']}/tweets")]
    with replay(again, tmp_path, x_requests=True) as played:
        source.poll(batch.cursor)
    sent = {urlsplit(u).path: params(u) for u in played.uris()}
    assert sent[TIMELINE]["since_id"] == "1577730467436138524"
    assert sent[f"/2/users/{DEV['id']}/tweets"]["since_id"] == newest["id"]
    assert sent[TIMELINE]["exclude"] == "retweets" and "exclude" not in sent["/2/tweets/search/recent"]


def test_a_post_by_any_brand_account_found_by_search_is_the_brands(tmp_path: Path) -> None:
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    page = x_page([x_post(snowflake(at, 2), "twitter status: all fixed", DEV),
                   x_post(snowflake(at, 1), "twitter is down for me", ALICE)], [DEV, ALICE])
    source = make_source(kinds=["search"], brand_handles=["Twitter", "TwitterDev"])
    with replay([x_json("GET", "/2/tweets/search/recent", 200, page)], tmp_path, x_requests=True):
        by_author = {m.author_handle: m for m in source.poll(None).mentions}
    assert by_author["TwitterDev"].raw["from_brand"] is True
    assert by_author["TwitterDev"].reply_path is ReplyPath.BLOCKED
    assert "from_brand" not in by_author["alice_w"].raw


def test_brand_posts_need_an_account_and_the_pipeline_hands_every_account_over() -> None:
    with pytest.raises(Exception, match="brand_posts needs the brand's X accounts"):
        XSource(name="tw", brand="T", options={"kinds": ["search"], "brand_posts": True}, query="t",
                secrets=x_secrets())
    settings = make_settings(
        brands=[{"name": "Apple", "query": "iphone", "handles": {"x": ["AppleSupport", "Apple"]}}],
        sources=[{"name": "apple-x", "type": "x", "brand": "Apple", "options": {"brand_posts": True}}])
    built, errors = build_sources(settings, secrets=x_secrets())
    assert errors == {}
    source = built["apple-x"]
    assert isinstance(source, XSource) and source.accounts == ["AppleSupport", "Apple"] and source.brand_posts
