"""The X source against tweepy's recorded responses and spec-checked built ones: reads, cursors, replies, spend."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from core.domain import Mention, ReplyPath
from core.storage import Database
from core.storage.schema import MentionRow, SourceStateRow
from core.storage.sources_tables import SourceUsageRow, drain_source_usage
from monitor.pipeline.ingest import poll_source
from sources.base import FatalSourceError, MalformedResponse, RateLimited
from sources.reply_limits import ReplyRejected
from sources.x import XSource
from sources.x_posts import weighted_length
from tests.support.clock import Clock
from tests.support.sources import (
    BRAND_X_ID,
    TWEEPY,
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
SEARCH = "/2/tweets/search/recent"
MENTIONS = f"/2/users/{BRAND_X_ID}/mentions"
BRAND = x_user(BRAND_X_ID, "KestrelMobile", followers=90_000, verified=True)
ALICE = x_user("2001", "alice_w", followers=52_000)
BOB = x_user("2002", "bob_r")


def make_source(clock: Clock | None = None, **options: object) -> XSource:
    opts = {"handle": "KestrelMobile", "user_id": BRAND_X_ID, **options}
    return XSource(name="kestrel-x", brand="Kestrel Mobile", options=opts, query='"kestrel mobile" OR kestrel',
                   secrets=x_secrets(), clock=clock or Clock(NOW))


def params(uri: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(uri).query))


def test_recorded_search_is_normalised_billed_and_requested_as_the_spec_says() -> None:
    source = make_source(kinds=["search"])
    with replay(TWEEPY / "test_client_search_recent_tweets.yaml", x_requests=True) as played:
        batch = source.poll(None)
    assert len(batch.mentions) == 10
    first = batch.mentions[0]
    assert first.external_id == "1578516068309794817"
    assert first.text == "2022-10-07 22:42:12.637103 tweepy"
    # the recording has no created_at: the time comes from the snowflake id, within a second of the text's clock
    assert abs((first.created_at - datetime(2022, 10, 7, 22, 42, 12, 637103, tzinfo=UTC)).total_seconds()) < 1
    assert first.url == "https://x.com/i/status/1578516068309794817"
    assert first.reply_path is ReplyPath.OPEN_IN_APP and "@-mention or quote" in (first.reply_path_reason or "")
    sent = params(played.uris()[0])
    assert sent["query"] == '("kestrel mobile" OR kestrel) -is:retweet'  # -@handle only when mentions are read too
    assert sent["expansions"] == "author_id,referenced_posts"
    # the first poll reads one page and starts from the newest post instead of paying for the week's backlog
    assert json.loads(batch.cursor or "")["kinds"]["search"] == {"since_id": "1578516068309794817"}
    assert [(u.kind, u.units, u.cost_usd) for u in source.meter.drain()] == [("post_read", 10, pytest.approx(0.05))]


def test_recorded_mentions_resolve_the_handle_once_and_bill_owned_reads(tmp_path: Path) -> None:
    source = XSource(name="tw", brand="Twitter", options={"handle": "Twitter", "kinds": ["mentions"]},
                     query="twitter", secrets=x_secrets(), clock=Clock(NOW))
    interactions = tweepy_interactions("test_client_get_user") + tweepy_interactions("test_client_get_users_mentions")
    with replay(interactions, tmp_path, x_requests=True) as played:
        batch = source.poll(None)
    assert urlsplit(played.uris()[1]).path == "/2/users/783214/mentions"
    assert len(batch.mentions) == 10
    state = json.loads(batch.cursor or "")
    assert state["user_id"] == "783214"
    # every recorded mention names @Twitter in its text: the author summoned the brand, so X takes an API reply
    summoned = [m for m in batch.mentions if "@twitter" in m.text.lower()]
    assert summoned and all(m.reply_path is ReplyPath.API and m.addressed for m in summoned)
    usage = {u.kind: (u.units, u.cost_usd) for u in source.meter.drain()}
    assert usage == {"owned_read": (10, pytest.approx(0.01)), "user_read": (1, pytest.approx(0.01))}


def test_page_with_expansions_fills_authors_threads_and_reply_paths(tmp_path: Path) -> None:
    at = NOW.replace(hour=8)
    brand_post = x_post(snowflake(at, 1), "Our new tariffs are live", BRAND)
    posts = [
        x_post(snowflake(at, 9), "@KestrelMobile my bill doubled, sort it out", ALICE,
               mentions=(("KestrelMobile", BRAND_X_ID),), refs=(("replied_to", brand_post["id"]),)),
        x_post(snowflake(at, 8), "kestrel mobile coverage in Leeds is awful", BOB, lang="und"),
        x_post(snowflake(at, 7), "this is daylight robbery", BOB, refs=(("quoted", brand_post["id"]),)),
        x_post(snowflake(at, 6), "kestrel mobile again, only friends may answer", ALICE, reply_settings="following"),
        x_post(snowflake(at, 5), "Kestrel Mobile update: all fixed", BRAND),
    ]
    page = x_page(posts, [ALICE, BOB, BRAND], included_posts=[brand_post])
    source = make_source(kinds=["search"])
    with replay([x_json("GET", SEARCH, 200, page)], tmp_path, x_requests=True):
        batch = source.poll(None)
    by_text = {m.text: m for m in batch.mentions}
    complaint = by_text["@KestrelMobile my bill doubled, sort it out"]
    author = (complaint.author_handle, complaint.author_name, complaint.author_followers)
    assert author == ("alice_w", "Alice W", 52_000)
    assert complaint.url == f"https://x.com/alice_w/status/{posts[0]['id']}"
    assert complaint.parent_id == brand_post["id"] and complaint.conversation_id == brand_post["id"]
    assert complaint.reply_path is ReplyPath.API and complaint.language == "en"
    unsummoned = by_text["kestrel mobile coverage in Leeds is awful"]
    assert unsummoned.reply_path is ReplyPath.OPEN_IN_APP and unsummoned.url in (unsummoned.reply_path_reason or "")
    assert unsummoned.language is None  # "und": X could not tell
    assert by_text["this is daylight robbery"].reply_path is ReplyPath.API  # quoting the brand summons it
    # a post that @-mentions or quotes the brand speaks to it (classify keeps it, whatever its words)
    assert complaint.addressed and by_text["this is daylight robbery"].addressed and not unsummoned.addressed
    limited = by_text["kestrel mobile again, only friends may answer"]
    assert limited.reply_path is ReplyPath.BLOCKED and "following" in (limited.reply_path_reason or "")
    assert by_text["Kestrel Mobile update: all fixed"].reply_path is ReplyPath.BLOCKED
    assert source.meter.drain()[0].units == 6  # five posts and the expanded quoted post


def _api_mention(post_id: str = "1344794616005066752") -> Mention:
    return Mention(network="x", external_id=post_id, author_handle="alice_w", author_name="Alice",
                   text="@KestrelMobile help", created_at=NOW, url=f"https://x.com/alice_w/status/{post_id}")


def test_reply_against_the_recording_sends_a_spec_valid_reply() -> None:
    source = make_source()
    with replay(TWEEPY / "test_client_create_and_delete_tweet.yaml", x_requests=True,
                expect_all_played=False) as played:
        posted = source.reply(_api_mention(), "Sorry about that, Alice. We have sent you a DM to sort it out.")
    request = played.sent[0]
    assert json.loads(request.body) == {"text": "Sorry about that, Alice. We have sent you a DM to sort it out.",
                                        "reply": {"in_reply_to_tweet_id": "1344794616005066752"}}
    assert posted.external_id == "1456012973835788293"
    assert posted.url == "https://x.com/KestrelMobile/status/1456012973835788293"
    assert posted.posted_at.tzinfo is not None
    assert [(u.kind, u.units) for u in source.meter.drain()] == [("post_write", 1)]


def test_reply_with_a_link_is_billed_at_the_url_price(tmp_path: Path) -> None:
    source = make_source()
    created = {"data": {"id": "1900000000000000001", "text": "See https://kestrel.example/status"}}
    with replay([x_json("POST", "/2/tweets", 201, created)], tmp_path, x_requests=True):
        source.reply(_api_mention(), "See https://kestrel.example/status for live updates")
    assert [(u.kind, u.cost_usd) for u in source.meter.drain()] == [("post_write_url", pytest.approx(0.20))]


def test_an_unreadable_answer_to_a_reply_is_final_so_it_is_never_posted_twice(tmp_path: Path) -> None:
    source = make_source()
    for body in ('{"data": {"id": "19000', {"data": {"text": "no id"}}):
        with replay([x_json("POST", "/2/tweets", 201, body, validate=False)], tmp_path, x_requests=True), \
                pytest.raises(ReplyRejected, match="before posting it again"):
            source.reply(_api_mention(), "We are on it")


def test_replies_x_would_refuse_are_never_sent() -> None:
    source = make_source()
    mention = _api_mention()
    not_summoned = Mention(**{**{f: getattr(mention, f) for f in ("network", "external_id", "author_handle",
                                                                  "author_name", "text", "created_at", "url")},
                              "reply_path": ReplyPath.OPEN_IN_APP, "reply_path_reason": "not summoned"})
    with pytest.raises(ReplyRejected, match="not summoned"):
        source.reply(not_summoned, "hello")
    with pytest.raises(ReplyRejected, match="281 characters"):
        source.reply(mention, "x" * 281)
    with pytest.raises(ReplyRejected, match="empty"):
        source.reply(mention, "   ")
    no_keys = XSource(name="ro", brand="K", options={"kinds": ["search"]}, query="k", secrets=x_secrets(user=False))
    with pytest.raises(ReplyRejected, match="credentials"):
        no_keys.reply(mention, "hello")
    assert source.meter.drain() == []


def test_weighted_length_counts_urls_as_23_and_cjk_as_2() -> None:
    assert weighted_length("a" * 280) == 280
    assert weighted_length("see https://example.com/" + "x" * 200) == 4 + 23
    assert weighted_length("see www.kestrel.example/help.") == 4 + 23 + 1
    assert weighted_length("日本語") == 6
    assert weighted_length("café") == 4  # NFC: é is one character either way it arrives


def test_run_rate_limited_resumed_and_repolled_stores_every_post_once(db: Database, tmp_path: Path) -> None:
    clock = Clock(NOW)
    at = NOW.replace(hour=7)
    page1 = [x_post(snowflake(at, n), f"kestrel mobile post {n}", ALICE) for n in (30, 29, 28)]
    page2 = [x_post(snowflake(at, n), f"kestrel mobile post {n}", BOB) for n in (27, 26)]
    later = [x_post(snowflake(NOW, n), f"kestrel mobile later {n}", BOB) for n in (2, 1)]
    reset = int(NOW.timestamp()) + 900
    limited = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    options = {"kinds": ["search"], "max_pages_per_poll": 2, "backfill_pages": 2}
    first = make_source(clock, **options)
    with replay([x_json("GET", SEARCH, 200, x_page(page1, [ALICE], next_token="t2")),
                 x_json("GET", SEARCH, 429, limited, headers={"x-rate-limit-reset": str(reset)}, validate=False)],
                tmp_path, x_requests=True) as played:
        outcome = poll_source(db, first, now=clock())
        clock.advance(seconds=60)
        waiting = poll_source(db, first, now=clock())  # the kind waits in the cursor: no request is made
        clock.advance(seconds=60)
        skipped = poll_source(db, first, now=clock())  # and the scheduler skips the source until the reset
    assert (outcome.fetched, outcome.stored) == (3, 3)
    assert waiting.error and "rate limited" in waiting.error
    assert skipped.skipped_reason and "waiting until" in skipped.skipped_reason
    assert params(played.uris()[1])["pagination_token"] == "t2"
    drain_source_usage(db, first, now=clock())

    clock.advance(seconds=800)
    resumed = make_source(clock, **options)  # a restarted process: everything it knows is in the database
    with replay([x_json("GET", SEARCH, 200, x_page(page2, [BOB])),
                 x_json("GET", SEARCH, 200, x_page(later, [BOB]))], tmp_path, x_requests=True) as played:
        after_reset = poll_source(db, resumed, now=clock())
        clock.advance(seconds=60)
        repoll = poll_source(db, resumed, now=clock())
    drain_source_usage(db, resumed, now=clock())
    resume_params, repoll_params = params(played.uris()[0]), params(played.uris()[1])
    assert resume_params["pagination_token"] == "t2" and "since_id" not in resume_params
    assert repoll_params["since_id"] == page1[0]["id"] and "pagination_token" not in repoll_params
    assert (after_reset.stored, repoll.stored) == (2, 2)
    with db.session() as session:
        ids = session.execute(select(MentionRow.external_id)).scalars().all()
        billed = session.execute(select(func.sum(SourceUsageRow.units))).scalar()
        state = session.get(SourceStateRow, "kestrel-x")
    expected = {p["id"] for p in page1 + page2 + later}
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids)) == 7
    assert billed == 7  # every post paid for once
    assert json.loads(state.cursor)["kinds"]["search"] == {"since_id": later[0]["id"]}


def test_stale_since_id_restarts_from_now_in_the_same_poll(tmp_path: Path) -> None:
    source = make_source(kinds=["search"])
    stale = {"type": "https://api.x.com/2/problems/invalid-request", "title": "Invalid Request",
             "detail": "Invalid 'since_id':'1'. 'since_id' must be a tweet id created after the start of the window."}
    fresh = [x_post(snowflake(NOW, 3), "kestrel mobile fresh", ALICE)]
    cursor = json.dumps({"v": 1, "kinds": {"search": {"since_id": "1"}}})
    with replay([x_json("GET", SEARCH, 400, stale, problem=True),
                 x_json("GET", SEARCH, 200, x_page(fresh, [ALICE]))], tmp_path, x_requests=True) as played:
        batch = source.poll(cursor)
    assert "since_id" not in params(played.uris()[1])
    assert [m.external_id for m in batch.mentions] == [fresh[0]["id"]]
    assert json.loads(batch.cursor or "")["kinds"]["search"] == {"since_id": fresh[0]["id"]}


def test_bad_credentials_disable_only_this_source(db: Database, tmp_path: Path) -> None:
    source = make_source(kinds=["search"])
    unauthorized = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    with replay([x_json("GET", SEARCH, 401, unauthorized, validate=False)], tmp_path):
        outcome = poll_source(db, source, now=NOW)
        again = poll_source(db, source, now=NOW)  # skipped without a request until someone re-enables it
    assert outcome.error and "401" in outcome.error
    assert again.skipped_reason and again.skipped_reason.startswith("disabled:")
    with db.session() as session:
        assert "check the X credentials" in session.get(SourceStateRow, "kestrel-x").fatal_error


def test_a_page_of_the_wrong_shape_stores_nothing(tmp_path: Path) -> None:
    source = make_source(kinds=["search"])
    wrong = {"data": [{"id": "not-a-number", "text": "kestrel"}], "meta": {"result_count": 1}}
    with replay([x_json("GET", SEARCH, 200, wrong, validate=False)], tmp_path), \
            pytest.raises(MalformedResponse, match="documented shape"):
        source.poll(None)


def test_rate_limit_without_reset_header_waits_a_window(tmp_path: Path) -> None:
    source = make_source(kinds=["search"])
    with replay([x_json("GET", SEARCH, 429, {"detail": "Too Many Requests"}, validate=False)], tmp_path), \
            pytest.raises(RateLimited) as caught:
        source.poll(None)
    assert (caught.value.retry_at - NOW).total_seconds() == 900


def test_configuration_errors_are_fatal_and_clear() -> None:
    with pytest.raises(FatalSourceError, match="no X credentials"):
        XSource(name="a", brand="K", options={"kinds": ["search"]}, query="k",
                secrets=x_secrets(bearer=False, user=False))
    with pytest.raises(FatalSourceError, match=r"handles\.x"):
        XSource(name="a", brand="K", options={"kinds": ["mentions"]}, query="k", secrets=x_secrets())
    with pytest.raises(FatalSourceError, match="unbalanced parenthesis"):
        XSource(name="a", brand="K", options={}, query="(k", secrets=x_secrets())
    with pytest.raises(FatalSourceError, match=r"options\.prices\.post_reed"):
        XSource(name="a", brand="K", options={"prices": {"post_reed": 1}}, query="k", secrets=x_secrets())
    both = make_source()
    assert both.search_query == '("kestrel mobile" OR kestrel) -is:retweet -@KestrelMobile'
