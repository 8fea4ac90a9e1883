"""The Reddit source against praw's recorded responses: search, inbox mentions, streams, replies, the sweep."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from core.domain import Mention, ReplyPath
from core.storage import Database
from core.storage.schema import MentionRow, OutboxRow
from core.storage.sources_tables import MentionCheckRow
from monitor.pipeline.ingest import poll_source, store_batch
from monitor.pipeline.sweep import PURGED_TEXT, sweep_deleted
from sources.base import FatalSourceError, RateLimited
from sources.reddit import RedditSource
from sources.reddit_things import normalise_thing
from sources.reply_limits import ReplyRejected
from tests.support.clock import Clock
from tests.support.sources import (
    PRAW,
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


def make_source(clock: Clock | None = None, *, query: str = "praw", account: bool = True,
                **options: Any) -> RedditSource:
    return RedditSource(name="kestrel-reddit", brand="Kestrel Mobile", options={"user_agent": UA, **options},
                        query=query, secrets=reddit_secrets(account=account), clock=clock or Clock(NOW))


def _things(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every comment and submission in a Reddit JSON document, however deeply nested."""
    if isinstance(node, dict):
        if node.get("kind") in ("t1", "t3") and isinstance(node.get("data"), dict):
            yield node["kind"], node["data"]
        for value in node.values():
            yield from _things(value)
    elif isinstance(node, list):
        for value in node:
            yield from _things(value)


def test_every_real_reddit_thing_normalises_as_the_shared_extract_says(shared_data: Path) -> None:
    recorded: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(PRAW.glob("Test*.json")):
        for interaction in praw_interactions(path.name):
            try:
                body = json.loads(interaction["response"]["body"]["string"])
            except (ValueError, TypeError):
                continue
            for kind, data in _things(body):
                recorded.setdefault((path.name, kind, str(data.get("id"))), data)
    records = [json.loads(line) for line in (shared_data / "reddit" / "reddit-things.jsonl").open(encoding="utf-8")]
    assert len(records) == 1643
    kept = gone = 0
    for record in records:
        data = recorded[(record["cassette"], record["kind"], record["id"])]
        mention = normalise_thing(record["kind"], data, can_reply=True)
        if mention is None:
            assert record["text"] in ("[deleted]", "[removed]")
            gone += 1
            continue
        kept += 1
        expected = record["text"] if record["kind"] == "t1" else (
            f"{record['title']}\n\n{record['text']}" if record["text"] else record["title"])
        assert mention.text == expected
        assert mention.author_handle == (record["author"] or "[deleted]")
        assert mention.created_at == datetime.fromtimestamp(record["created_utc"], UTC)
        assert mention.external_id == f"{record['kind']}_{record['id']}"
        assert mention.url.startswith("https://www.reddit.com/") and "?" not in mention.url
        assert mention.conversation_id and mention.conversation_id.startswith("t3_")
        if record["kind"] == "t1":
            assert mention.parent_id == record["parent_id"]
    assert kept > 1500 and gone >= 1


def test_recorded_search_asks_for_newest_first_with_the_reddit_query() -> None:
    source = make_source(query='praw OR (oauth lang:en)')
    with replay(praw_recording("TestSubreddit.test_search.json")) as played:
        batch = source.poll(None)
    sent = dict(parse_qsl(urlsplit(played.uris()[-1]).query))
    assert (sent["q"], sent["sort"], sent["syntax"], sent["restrict_sr"]) == ("praw OR oauth", "new", "lucene", "False")
    assert len(batch.mentions) == 6
    assert all(m.external_id.startswith("t3_") and m.network == "reddit" for m in batch.mentions)
    archived = [m for m in batch.mentions if m.raw["data"].get("archived")]
    assert archived and all(m.reply_path is ReplyPath.BLOCKED and "archived" in (m.reply_path_reason or "")
                            for m in archived)
    assert [u.units for u in source.meter.drain()] == [6]


def test_recorded_inbox_mentions_can_be_answered() -> None:
    source = make_source(kinds=["mentions"])
    with replay(praw_recording("TestInbox.test_mentions.json")) as played:
        batch = source.poll(None)
    assert urlsplit(played.uris()[-1]).path == "/message/mentions"
    assert len(batch.mentions) == 16
    first = batch.mentions[0]
    assert first.external_id == "t1_ekftbox" and first.conversation_id == "t3_bb24k7"
    assert first.url.startswith("https://www.reddit.com/r/RemovedByBotter/comments/bb24k7/")
    assert first.reply_path is ReplyPath.API and first.raw["data"]["subreddit"] == "RemovedByBotter"
    assert all(m.addressed for m in batch.mentions)  # an inbox username mention calls on the brand's account


def test_comment_stream_is_filtered_by_the_brand_query_locally() -> None:
    source = make_source(kinds=["comments"], subreddits=["askreddit"], query="soul OR body")
    with replay(praw_recording("TestSubredditListings.test_comments.json")):
        batch = source.poll(None)
    bodies = [data["body"] for _, data in _things(json.loads(
        praw_interactions("TestSubredditListings.test_comments.json")[1]["response"]["body"]["string"]))]
    expected = [b for b in bodies if re.search(r"\b(soul|body)\b", b, re.IGNORECASE)]
    assert len(bodies) == 100 and 0 < len(batch.mentions) == len(expected)
    assert not any(m.addressed for m in batch.mentions)  # found by its words: nobody called on the brand


def test_the_brands_own_subreddit_keeps_every_comment_named_or_not() -> None:
    source = RedditSource(name="kestrel-reddit", brand="Kestrel Mobile",
                          options={"user_agent": UA, "kinds": ["comments"], "subreddits": ["askreddit"]},
                          query="soul OR body", communities={"reddit": ["r/AskReddit"]},
                          secrets=reddit_secrets(account=True), clock=Clock(NOW))
    with replay(praw_recording("TestSubredditListings.test_comments.json")):
        batch = source.poll(None)
    assert len(batch.mentions) == 100  # the recording's 100 comments, all in r/AskReddit
    assert all("/r/AskReddit/" in m.url for m in batch.mentions)


def test_the_pipeline_hands_the_brands_communities_to_its_reddit_source() -> None:
    from monitor.pipeline import build_sources
    from tests.support.settings import make_settings

    settings = make_settings(
        brands=[{"name": "Kestrel Mobile", "query": "kestrel", "communities": {"reddit": ["KestrelMobile"]}}],
        sources=[{"name": "kestrel-reddit", "type": "reddit", "brand": "Kestrel Mobile",
                  "options": {"user_agent": UA, "kinds": ["comments"], "subreddits": ["KestrelMobile", "uknetworks"]}}])
    built, errors = build_sources(settings, secrets=reddit_secrets(account=True))
    assert errors == {}
    source = built["kestrel-reddit"]
    assert isinstance(source, RedditSource) and source.own_subreddits == {"kestrelmobile"}


def test_rate_limited_resumed_and_repolled_run_stores_every_thing_once(db: Database, tmp_path: Path) -> None:
    clock = Clock(NOW)
    name = "TestSubredditListings.test_comments.json"
    page = json.loads(praw_interactions(name)[1]["response"]["body"]["string"])
    newer = json.loads(json.dumps(page))
    fresh = newer["data"]["children"][:2]
    for n, child in enumerate(fresh):  # two comments written after the page was read, newest first
        child["data"] |= {"id": f"zz{n}", "name": f"t1_zz{n}", "created_utc": page["data"]["children"][0]["data"]
                          ["created_utc"] + 60 - n}
    newer["data"]["children"] = fresh + page["data"]["children"][:98]
    first = make_source(clock, kinds=["comments"], subreddits=["askreddit"], query="the")
    limited = reddit_json("GET", "https://oauth.reddit.com/r/askreddit/comments/", 429, "Too Many Requests",
                          headers={"retry-after": "120"})
    with replay([reddit_token(), praw_interaction(name, 1), limited], tmp_path):
        stored_first = poll_source(db, first, now=clock()).stored
        clock.advance(seconds=30)
        outcome = poll_source(db, first, now=clock())
    assert outcome.error and "429" in outcome.error
    clock.advance(seconds=200)
    resumed = make_source(clock, kinds=["comments"], subreddits=["askreddit"], query="the")
    with replay([reddit_token(), praw_interaction(name, 1, body=newer)], tmp_path):
        again = poll_source(db, resumed, now=clock())
    with db.session() as session:
        ids = session.execute(select(MentionRow.external_id)).scalars().all()
    assert len(ids) == len(set(ids)) == stored_first + again.stored
    assert again.fetched == again.stored == sum(1 for c in fresh if re.search(r"\bthe\b", c["data"]["body"], re.I))


def test_a_spent_window_is_handed_to_the_scheduler_not_slept_out(tmp_path: Path) -> None:
    source = make_source(kinds=["search"])
    listing = json.loads(praw_interactions("TestSubreddit.test_search.json")[1]["response"]["body"]["string"])
    spent = reddit_json("GET", "https://oauth.reddit.com/r/all/search/", 200, listing,
                        headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "300"})
    with replay([reddit_token(), spent], tmp_path):
        assert len(source.poll(None).mentions) == 6
        with pytest.raises(RateLimited) as caught:
            source.poll(None)  # no request: the cassette has nothing left to play and would fail
    assert 290 <= (caught.value.retry_at - NOW).total_seconds() <= 301


def test_replies_against_the_recordings() -> None:
    source = make_source()
    comment = normalise_thing("t1", {"id": "d1616q2", "body": "praw", "author": "someone", "created_utc": 1458421476.0,
                                     "link_id": "t3_4b1tfm", "parent_id": "t3_4b1tfm"}, can_reply=True)
    assert comment is not None
    with replay(praw_recording("TestComment.test_reply.json")) as played:
        posted = source.reply(comment, "Comment reply")
    assert dict(parse_qsl(played.sent[-1].body.decode())) == {"api_type": "json", "thing_id": "t1_d1616q2",
                                                              "text": "Comment reply"}
    assert posted.external_id == "t1_d1680wu"
    assert posted.url == "https://www.reddit.com/comments/4b1tfm/_/d1680wu/"
    assert posted.posted_at == datetime.fromtimestamp(1458434031.0, UTC)

    submission = normalise_thing("t3", {"id": "4b1tfm", "title": "praw", "selftext": "", "author": "a",
                                        "created_utc": 1458421476.0}, can_reply=True)
    assert submission is not None
    with replay(praw_recording("TestSubmission.test_reply.json")):
        posted = source.reply(submission, "Test reply")
    assert posted.external_id == "t1_d162ara"

    other = normalise_thing("t1", {"id": "eear2ml", "body": "x", "author": "b", "created_utc": 1.0,
                                   "parent_id": "t3_a"}, can_reply=True)
    assert other is not None
    with replay(praw_recording("TestComment.test_reply__none.json")), pytest.raises(ReplyRejected, match="did not"):
        source.reply(other, "TEST")


def test_locked_threads_and_long_replies_are_refused_without_a_request() -> None:
    source = make_source()
    locked = normalise_thing("t3", {"id": "abc", "title": "t", "selftext": "", "author": "a", "created_utc": 1.0,
                                    "locked": True}, can_reply=True)
    assert locked is not None and locked.reply_path is ReplyPath.BLOCKED
    with pytest.raises(ReplyRejected, match="locked"):
        source.reply(locked, "hello")
    open_thread = normalise_thing("t3", {"id": "abc", "title": "t", "author": "a", "created_utc": 1.0}, can_reply=True)
    assert open_thread is not None
    with pytest.raises(ReplyRejected, match="10000"):
        source.reply(open_thread, "x" * 10_001)
    read_only = make_source(account=False)
    anonymous = normalise_thing("t3", {"id": "abc", "title": "t", "author": "a", "created_utc": 1.0}, can_reply=False)
    assert anonymous is not None and anonymous.reply_path is ReplyPath.OPEN_IN_APP
    with pytest.raises(ReplyRejected):
        read_only.reply(anonymous, "hello")


def _stored(db: Database, source: RedditSource, *ids: str) -> None:
    mentions = tuple(Mention(network="reddit", external_id=i, author_handle="u", author_name="u",
                             text=f"kestrel post {i}", created_at=NOW, url=f"https://www.reddit.com/{i}") for i in ids)
    from core.domain import Batch

    store_batch(db, source, Batch(mentions, None), now=NOW)


def test_sweep_purges_what_reddit_deleted_and_keeps_the_rest(db: Database, tmp_path: Path) -> None:
    source = make_source()
    _stored(db, source, "t1_d1616q2", "t1_d81vwef")
    with db.session() as session:
        deleted_id = session.execute(select(MentionRow.id).where(MentionRow.external_id == "t1_d1616q2")).scalar()
        alert = OutboxRow(kind="slack", channel="#care", dedupe_key="slack:urgent:1", status="pending", attempts=0,
                          payload={"mention_id": deleted_id, "text": "kestrel post", "author_handle": "u"},
                          next_attempt_at=NOW, created_at=NOW)
        session.add(alert)
        session.flush()
        from core.storage.schema import AlertRow

        session.add(AlertRow(mention_id=deleted_id, rule="urgent", channel="#care", created_at=NOW, outbox_id=alert.id))
    cassette = [praw_interaction("TestComment.test_delete.json", 0),
                praw_interaction("TestComment.test_delete.json", 2),
                praw_interaction("TestComment.test_refresh.json", 1)]
    with replay(cassette, tmp_path):
        first = sweep_deleted(db, source, now=NOW, batch=1)  # never checked, lowest id first: the deleted one
        second = sweep_deleted(db, source, now=NOW, batch=1)
    assert (first.checked, first.purged, second.checked, second.purged) == (1, 1, 1, 0)
    with db.session() as session:
        assert session.execute(select(MentionRow.external_id)).scalars().all() == ["t1_d81vwef"]
        assert session.execute(select(MentionCheckRow.checked_at)).scalars().all() == [NOW]
        outbox = session.execute(select(OutboxRow)).scalar_one()
        assert outbox.payload["text"] == PURGED_TEXT and outbox.payload["author_handle"] is None
        assert outbox.status == "dead"


def test_things_missing_from_reddit_count_as_gone(tmp_path: Path) -> None:
    source = make_source()
    empty = {"kind": "Listing", "data": {"children": [], "after": None, "before": None}}
    with replay([reddit_token(), reddit_json("GET", "https://oauth.reddit.com/api/info/?id=t3_gone1", 200, empty)],
                tmp_path):
        assert source.deleted_among(["t3_gone1"]) == {"t3_gone1"}


def test_bad_credentials_and_configuration_are_fatal(tmp_path: Path) -> None:
    source = make_source()
    refused = reddit_json("POST", "https://www.reddit.com/api/v1/access_token", 200, {"error": "invalid_grant"})
    with replay([refused], tmp_path), pytest.raises(FatalSourceError, match="check the Reddit credentials"):
        source.poll(None)
    with pytest.raises(FatalSourceError, match="user_agent"):
        RedditSource(name="r", brand="K", options={}, query="k", secrets=reddit_secrets())
    with pytest.raises(FatalSourceError, match="subreddits"):
        make_source(kinds=["comments"])
    with pytest.raises(FatalSourceError, match="REDDIT_USERNAME"):
        make_source(kinds=["mentions"], account=False)
    with pytest.raises(FatalSourceError, match="every Reddit post"):
        make_source(query="kestrel OR lang:en")
