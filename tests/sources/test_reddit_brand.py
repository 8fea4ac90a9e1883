"""The Reddit source and the brand's own posts: finding a reply whose outcome was lost, and reading the accounts'.

Lookups replay praw's recordings (a comment refreshed with its replies, a submission with its comments). Reddit's
user listings are not among the recordings, so those pages are built from recorded comments and submissions
(Reddit's real JSON) served at /user/:name/comments/ and /user/:name/submitted/.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from core.domain import Mention, ReplyPath
from sources.base import FatalSourceError
from sources.reddit import RedditSource
from sources.reddit_things import REDDIT, normalise_thing
from tests.support.clock import Clock
from tests.support.sources import (
    no_network,
    praw_interaction,
    praw_interactions,
    praw_recording,
    reddit_json,
    reddit_secrets,
    reddit_token,
    replay,
)

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UA = "brandmon:tests:0.1 (by u/<USERNAME>)"
OAUTH = "https://oauth.reddit.com"


def make_source(**options: Any) -> RedditSource:
    return RedditSource(name="kestrel-reddit", brand="Kestrel Mobile", options={"user_agent": UA, **options},
                        query="praw", secrets=reddit_secrets(), clock=Clock(NOW))


def recorded_things(recording: str) -> dict[str, dict[str, Any]]:
    """Every comment and submission in a recording's responses, by fullname (Reddit's own JSON)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("kind") in ("t1", "t3") and isinstance(node.get("data"), dict):
                found.setdefault(f"{node['kind']}_{node['data']['id']}", node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for interaction in praw_interactions(recording):
        try:
            walk(json.loads(interaction["response"]["body"]["string"]))
        except (TypeError, ValueError):
            continue
    return found


def as_mention(data: dict[str, Any], kind: str) -> Mention:
    mention = normalise_thing(kind, data, can_reply=True)
    assert mention is not None
    return mention


# -- find_reply ------------------------------------------------------------------------------------------------
def test_a_reply_under_a_comment_is_found_among_its_replies() -> None:
    things = recorded_things("TestComment.test_refresh.json")
    parent, answer = things["t1_d81vwef"], things["t1_d81w4vt"]
    source = make_source(handle="OkRedditBot")
    with replay(praw_recording("TestComment.test_refresh.json")) as played:
        found = source.find_reply(as_mention(parent, "t1"), answer["body"])
    assert found is not None
    assert found.external_id == "t1_d81w4vt"
    assert "permalink" not in answer  # 2016's JSON had none: the URL is built from the thread and comment ids
    assert found.url == f"{REDDIT}/comments/54hhwl/_/d81w4vt/"
    assert found.posted_at == datetime.fromtimestamp(answer["created_utc"], UTC)
    refreshed = played.sent[-1]
    assert urlsplit(refreshed.uri).path == "/comments/54hhwl/_/d81vwef"
    assert dict(parse_qsl(urlsplit(refreshed.uri).query))["sort"] == "new"  # a reply just posted comes first


def test_a_reply_to_a_submission_is_a_top_level_comment_by_the_brand() -> None:
    things = recorded_things("TestSubmission.test_comments.json")
    submission, top, nested = things["t3_2gmzqe"], things["t1_cklfmye"], things["t1_cklhv0f"]
    asked = as_mention(submission, "t3")
    with replay(praw_recording("TestSubmission.test_comments.json")):
        found = make_source(brand_handles=["someone_else", "Paneer_Burrito"]).find_reply(asked, top["body"])
    assert found is not None and found.external_id == "t1_cklfmye"
    # bboe's comment answers paneer_burrito's comment, not the submission: it is not a reply to this post
    with replay(praw_recording("TestSubmission.test_comments.json")):
        assert make_source(handle="bboe").find_reply(asked, nested["body"]) is None


def test_the_same_words_from_someone_else_are_not_the_brands_reply() -> None:
    things = recorded_things("TestComment.test_refresh.json")
    with replay(praw_recording("TestComment.test_refresh.json")):
        found = make_source(handle="KestrelMobile").find_reply(as_mention(things["t1_d81vwef"], "t1"),
                                                               things["t1_d81w4vt"]["body"])
    assert found is None


def test_a_post_that_is_gone_has_no_reply_to_find(tmp_path: Path) -> None:
    info = json.loads(praw_interactions("TestComment.test_refresh.json")[1]["response"]["body"]["string"])
    info["data"]["children"] = []  # what /api/info answers for a comment that no longer exists
    parent = recorded_things("TestComment.test_refresh.json")["t1_d81vwef"]
    cassette = [reddit_token(), praw_interaction("TestComment.test_refresh.json", 1, body=info)]
    with replay(cassette, tmp_path):
        assert make_source(handle="OkRedditBot").find_reply(as_mention(parent, "t1"), "anything") is None


def test_without_a_brand_account_there_is_nothing_to_look_for() -> None:
    parent = recorded_things("TestComment.test_refresh.json")["t1_d81vwef"]
    assert make_source().find_reply(as_mention(parent, "t1"), "Thank you!") is None  # and no request is sent


# -- the brand's own posts -------------------------------------------------------------------------------------
def user_listing(recording: str, author: str, count: int) -> dict[str, Any]:
    """A recorded listing cut to `count` things, written by `author`, as /user/:name/... answers."""
    listing = json.loads(praw_interactions(recording)[1]["response"]["body"]["string"])
    children = copy.deepcopy(listing["data"]["children"][:count])
    for child in children:
        child["data"] |= {"author": author, "archived": False, "locked": False}
    listing["data"] |= {"children": children, "after": None}
    return listing


def brand_pages(*accounts: str) -> list[Any]:
    pages = []
    for account in accounts:
        pages += [reddit_json("GET", f"{OAUTH}/user/{account}/comments/", 200,
                              user_listing("TestSubredditListings.test_comments.json", account, 3)),
                  reddit_json("GET", f"{OAUTH}/user/{account}/submitted/", 200,
                              user_listing("TestSubredditListings.test_new.json", account, 2))]
    return pages


def test_brand_posts_read_each_accounts_comments_and_submissions(tmp_path: Path) -> None:
    source = make_source(kinds=["mentions"], handle="KestrelMobile", brand_handles=["KestrelHelp"], brand_posts=True)
    cassette = [reddit_token(), praw_interaction("TestInbox.test_mentions.json", 1),
                *brand_pages("KestrelMobile", "KestrelHelp")]
    with replay(cassette, tmp_path) as played:
        batch = source.poll(None)
    listings = [(urlsplit(u).path, dict(parse_qsl(urlsplit(u).query)).get("sort")) for u in played.uris()[2:]]
    assert listings == [("/user/KestrelMobile/comments/", "new"), ("/user/KestrelMobile/submitted/", "new"),
                        ("/user/KestrelHelp/comments/", "new"), ("/user/KestrelHelp/submitted/", "new")]
    own = [m for m in batch.mentions if m.raw.get("from_brand") is True]
    customers = [m for m in batch.mentions if not m.raw.get("from_brand")]
    # both accounts' listings were built from the same recorded things: each thing is stored once
    assert len(own) == 5 and len(customers) == 16
    assert all(m.reply_path is ReplyPath.BLOCKED and m.reply_path_reason == "the brand's own post" for m in own)
    comment = next(m for m in own if m.external_id.startswith("t1_"))
    assert comment.parent_id and comment.conversation_id and comment.conversation_id.startswith("t3_")
    assert comment.raw["query_kind"] == "brand_posts"
    state = json.loads(batch.cursor or "")
    assert set(state["brand_posts"]) == {"kestrelmobile", "kestrelhelp"}
    assert set(state["brand_posts"]["kestrelhelp"]) == {"comments", "submitted"}
    assert len(state["brand_posts"]["kestrelmobile"]["comments"]["seen"]) == 3

    again = [reddit_token(), praw_interaction("TestInbox.test_mentions.json", 1), *brand_pages("KestrelMobile",
                                                                                               "KestrelHelp")]
    with replay(again, tmp_path):
        assert make_source(kinds=["mentions"], handle="KestrelMobile", brand_handles=["KestrelHelp"],
                           brand_posts=True).poll(batch.cursor).mentions == ()  # the cursors hold what was read


def test_a_thing_by_a_brand_account_found_by_search_is_the_brands(tmp_path: Path) -> None:
    listing = json.loads(praw_interactions("TestSubreddit.test_search.json")[1]["response"]["body"]["string"])
    listing["data"]["children"][0]["data"]["author"] = "KestrelHelp"
    cassette = [reddit_token(), praw_interaction("TestSubreddit.test_search.json", 1, body=listing)]
    with replay(cassette, tmp_path):
        mentions = make_source(brand_handles=["KestrelMobile", "KestrelHelp"]).poll(None).mentions
    by_author = [m for m in mentions if m.author_handle == "KestrelHelp"]
    assert len(by_author) == 1 and by_author[0].raw["from_brand"] is True
    assert by_author[0].reply_path is ReplyPath.BLOCKED
    assert all("from_brand" not in m.raw for m in mentions if m.author_handle != "KestrelHelp")


def test_brand_posts_need_an_account() -> None:
    with pytest.raises(FatalSourceError, match="brand_posts needs the brand's Reddit accounts"):
        make_source(brand_posts=True)
