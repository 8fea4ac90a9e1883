"""A post that speaks to the brand (@-mentions one of its accounts, answers or quotes one of its posts) is marked
`addressed` by every source, and migration 0012 stores the mark: classify keeps such a post as the brand's whatever
its words (tests/monitor/pipeline/test_pipeline.py)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from core.storage import Database
from core.storage.schema import MentionRow
from sources.bluesky_text import speaks_to
from sources.reddit_things import names_user
from sources.replay import ReplaySource
from tests.support.bluesky import bluesky_post
from tests.support.migrations import alembic, store_mention_without
from tests.support.paths import DATA_DIR
from tests.support.queue import BRAND, NOW, post

TWCS = DATA_DIR / "conversations" / "twcs-sample.csv"
MENTION = "app.bsky.richtext.facet#mention"  # the lexicon's mention feature: {did}


def test_a_bluesky_post_speaks_to_the_account_it_quotes_answers_or_mentions() -> None:
    recorded = bluesky_post()  # a real post that quotes (recordWithMedia) a post of its own author
    author = recorded["author"]["did"]
    assert speaks_to(recorded, author) and not speaks_to(recorded, "did:plc:someoneelse")
    assert not speaks_to(recorded, "")
    plain = bluesky_post()
    del plain["record"]["embed"]
    assert not speaks_to(plain, author)
    plain["record"]["reply"] = {"root": {"uri": f"at://{author}/app.bsky.feed.post/1", "cid": "c"},
                                "parent": {"uri": f"at://{author}/app.bsky.feed.post/2", "cid": "c"}}
    assert speaks_to(plain, author)  # a reply to one of the account's posts
    mentioning = bluesky_post()
    del mentioning["record"]["embed"]
    mentioning["record"]["text"] = "@kestrel.bsky.social no signal"
    mentioning["record"]["facets"] = [{"index": {"byteStart": 0, "byteEnd": 20},
                                       "features": [{"$type": MENTION, "did": "did:plc:kestrel"}]}]
    assert speaks_to(mentioning, "did:plc:kestrel") and not speaks_to(mentioning, author)
    linked = json.loads(json.dumps(mentioning).replace(MENTION, "app.bsky.richtext.facet#link"))
    assert not speaks_to(linked, "did:plc:kestrel")  # only a mention feature calls on an account


def test_reddit_names_a_user_as_u_slash_name_only() -> None:
    assert names_user("thanks u/KestrelMobile_Support!", "kestrelmobile_support")
    assert names_user("ping /u/KestrelMobile_Support", "KestrelMobile_Support")
    assert not names_user("u/KestrelMobile_Support_Bot said so", "KestrelMobile_Support")
    assert not names_user("see r/u/KestrelMobile_Support", "KestrelMobile_Support")
    assert not names_user("thanks u/KestrelMobile_Support", None)


def test_a_replayed_record_is_addressed_when_it_says_so_or_the_demo_marks_it_summoned(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    rows = [{"id": "1", "text": "it's all of us", "summoned": True},
            {"id": "2", "text": "kestrel is down", "addressed": "true"},
            {"id": "3", "text": "kestrel is down"}]
    path.write_text("".join(json.dumps({**r, "created_at": "2026-11-19T08:00:00Z"}) + "\n" for r in rows))
    batch = ReplaySource(name="r", brand=BRAND, options={"path": str(path)}).poll(None)
    assert {m.external_id: m.addressed for m in batch.mentions} == {"1": True, "2": True, "3": False}


@pytest.mark.skipif(not TWCS.is_file(), reason="needs ../shared/data")
def test_a_real_customer_tweet_is_addressed_when_it_names_the_brands_account(tmp_path: Path) -> None:
    source = ReplaySource(name="r", brand="Sprint", options={"path": str(TWCS), "brand_handles": ["sprintcare"],
                                                             "batch_size": 10_000})
    mentions = source.poll(None).mentions
    with TWCS.open(encoding="utf-8") as handle:
        inbound = [r for r in csv.DictReader(handle) if r["inbound"] == "True"]
    naming = {r["tweet_id"] for r in inbound if re.search(r"(?<![\w@])@sprintcare(?!\w)", r["text"], re.I)}
    assert len(mentions) == len(inbound) and 0 < len(naming) < len(inbound)
    assert {m.external_id for m in mentions if m.addressed} == naming


def test_migration_0012_adds_the_mark_false_for_rows_before_it_and_downgrades(database_url: str) -> None:
    db = Database(database_url)
    try:
        alembic(db, "upgrade", "0011_categories")
        assert "addressed" not in {c["name"] for c in inspect(db.engine).get_columns("mentions")}
        before = store_mention_without(db, post("1"), ("addressed",), brand=BRAND, source_name="x", now=NOW)
        db.migrate()
        assert db.is_current()
        with db.session() as session:
            assert session.scalar(select(MentionRow.addressed).where(MentionRow.id == before)) is False
        alembic(db, "downgrade", "0011_categories")
        assert "addressed" not in {c["name"] for c in inspect(db.engine).get_columns("mentions")}
        db.migrate()
        assert db.is_current()
    finally:
        db.dispose()
