"""Fuzz the mention normalisers (replay, X, Reddit): any input is normalised and storable, or refused cleanly."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from core.domain import Mention
from core.storage import Database
from core.storage.schema import MentionRow
from monitor.pipeline.ingest import clean_text, store_batch
from sources.base import MalformedResponse
from sources.entities import decode_entities
from sources.reddit_things import normalise_thing
from sources.replay import ReplaySource
from sources.x_posts import normalise_post

#: Text as networks hand it over, hostile parts included: controls, bidi overrides, lone surrogates, NUL.
HOSTILE = st.text(st.characters(codec=None) | st.sampled_from(list("\x00\x1b\u202e\u2066\ud800\udfff<>&|*`")),
                  max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
REPLAY_KEYS = ("id", "external_id", "text", "network", "author_handle", "author_name", "author_followers",
               "author_verified", "lang", "created_at", "url", "conversation_id", "parent_id", "brand")
X_KEYS = ("id", "text", "author_id", "created_at", "lang", "conversation_id", "referenced_tweets",
          "referenced_posts", "entities", "reply_settings", "in_reply_to_user_id")
REDDIT_KEYS = ("id", "title", "selftext", "body", "author", "created_utc", "permalink", "link_id", "parent_id",
               "subreddit", "locked", "archived", "removed_by_category", "author_fullname")
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _db() -> Database:
    db = Database("sqlite:///:memory:")  # one connection per thread: the same in-memory database throughout
    db.migrate()
    return db


DB = _db()


class _Holder(ReplaySource):
    network = "x"


def assert_storable(mentions: list[Mention], source: ReplaySource) -> None:
    """Store the mentions like a poll does and read back exactly the cleaned text."""
    from datetime import UTC, datetime

    from core.domain import Batch

    with DB.session() as session:
        session.execute(delete(MentionRow))  # each example starts empty, so every mention is new
    store_batch(DB, source, Batch(tuple(mentions), None), now=datetime.now(UTC))
    with DB.session() as session:
        for mention in mentions:
            key = (MentionRow.network == clean_text(mention.network),
                   MentionRow.external_id == clean_text(mention.external_id))
            text = session.execute(select(MentionRow.text).where(*key)).scalar_one()
            assert text == clean_text(mention.text)
            assert mention.created_at.tzinfo is not None and mention.external_id and mention.network


def replay_source(path: Path) -> ReplaySource:
    return _Holder(name="fuzz", brand="Kestrel Mobile", options={"path": str(path), "filter_brand": False})


@SETTINGS
@given(st.lists(st.dictionaries(st.sampled_from(REPLAY_KEYS), json_values, max_size=8) | HOSTILE, max_size=5))
def test_replay_normalises_or_reports_malformed(records: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.jsonl"
        lines = [json.dumps(r) if isinstance(r, dict) else r.replace("\n", " ") for r in records]
        path.write_text("\n".join(lines).encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                        encoding="utf-8")
        source = replay_source(path)
        try:
            batch = source.poll(None)
        except MalformedResponse as exc:
            assert str(exc).startswith(str(path))  # says which file and line
            return
        finally:
            source.close()
        assert_storable(list(batch.mentions), source)


@SETTINGS
@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=50).filter(str.strip), HOSTILE, HOSTILE,
       st.datetimes(timezones=st.timezones()))
def test_well_formed_replay_records_keep_their_text(external_id: str, text: str, handle: str, created: Any) -> None:
    record = {"id": external_id, "text": text, "author_handle": handle or "h", "created_at": created.isoformat()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.jsonl"
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        source = replay_source(path)
        try:
            [mention] = source.poll(None).mentions
        finally:
            source.close()
    # JSON joins an escaped surrogate pair into one character; that is what the file says
    # compared in UTC: Python never calls a time in a zone's DST gap or fold equal to a time in another zone
    assert mention.text == json.loads(json.dumps(text)) and mention.created_at == created.astimezone(UTC)
    assert_storable([mention], source)


@SETTINGS
@given(st.dictionaries(st.sampled_from(X_KEYS), json_values, max_size=8),
       st.dictionaries(st.text(max_size=5), st.dictionaries(st.sampled_from(["id", "username", "name", "verified",
                                                                             "public_metrics"]), json_values)),
       st.booleans())
def test_x_posts_normalise_or_raise_the_errors_the_source_turns_into_malformed(
        post: dict[str, Any], users: dict[str, Any], can_write: bool) -> None:
    try:
        mention = normalise_post(post, users, {}, handle="KestrelMobile", user_id="1500", can_write=can_write,
                                 query_kind="search")
    except (KeyError, ValueError, TypeError, AttributeError):
        return  # XSource turns exactly these into MalformedResponse
    assert_storable([mention], replay_source(Path("unused")))


@SETTINGS
@given(st.integers(min_value=1, max_value=2**63), HOSTILE, st.sampled_from(["2026-03-02T09:00:00.000Z", None]))
def test_valid_x_posts_always_normalise(post_id: int, text: str, created: str | None) -> None:
    post = {"id": str(post_id), "text": text, "author_id": "7", "lang": "en"}
    if created:
        post["created_at"] = created
    users = {"7": {"id": "7", "username": "alice_w", "name": text[:20]}}
    mention = normalise_post(post, users, {}, handle="KestrelMobile", user_id="1500", can_write=False,
                             query_kind="search")
    # X sends &amp; &lt; &gt; escaped, and they are decoded once at ingest: a drawn "&gt;" reads as ">"
    assert mention.text == decode_entities(text) and mention.external_id == str(post_id)
    assert_storable([mention], replay_source(Path("unused")))


@SETTINGS
@given(st.sampled_from(["t1", "t3", "t2", ""]), st.dictionaries(st.sampled_from(REDDIT_KEYS), json_values, max_size=9),
       st.booleans())
def test_reddit_things_normalise_or_raise_the_errors_the_source_turns_into_malformed(
        kind: str, data: dict[str, Any], can_reply: bool) -> None:
    try:
        mention = normalise_thing(kind, data, can_reply=can_reply, own_user="KestrelMobile_Support")
    except (KeyError, ValueError, TypeError):
        return  # RedditSource turns exactly these into MalformedResponse
    if mention is not None:
        assert_storable([mention], replay_source(Path("unused")))
