"""Cases (issue 13): grouping posts into one case per customer conversation, brand posts from replay, migration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import select

from core.settings import Settings
from core.settings.brands import BrandSettings
from core.storage import Database
from core.storage.case_tables import CasePostRow, CaseRow
from monitor.queue.cases import Post, build_cases, case_figures, post_from_mention
from sources.replay import ReplaySource
from tests.support.queue import post, seed
from tests.support.settings import make_settings

T0 = datetime(2017, 10, 31, 9, 0, tzinfo=UTC)


def _p(post_id: str, minutes: float, text: str = "@AmazonHelp my parcel never came", *, author: str = "jo",
       parent: str | None = None, brand: bool = False) -> Post:
    return Post(id=post_id, author="AmazonHelp" if brand else author, at=T0 + timedelta(minutes=minutes),
                text=text, parent_id=parent, from_brand=brand)


def test_a_thread_with_follow_ups_and_brand_replies_is_one_case() -> None:
    posts = [_p("1", 0), _p("2", 12, "Sorry Jo, DM us", parent="1", brand=True), _p("3", 20, "sent", parent="2"),
             _p("4", 31, "Refund issued", parent="3", brand=True), _p("5", 40, "thanks!", parent="4")]
    (case,) = build_cases(posts)
    assert [p.id for p in case.posts] == ["1", "2", "3", "4", "5"]
    assert case.first_response == timedelta(minutes=12)
    assert case.resolved_by == "customer" and case.brand_replies == 2
    assert not case.first_contact_resolution


def test_a_new_thread_within_the_merge_window_joins_the_open_case_and_reopens_it() -> None:
    posts = [_p("1", 0), _p("2", 5, "done", parent="1", brand=True), _p("3", 8, "thank you", parent="2"),
             _p("9", 60 * 20, "@AmazonHelp it broke again")]
    (case,) = build_cases(posts, merge_window_h=24)
    assert case.resolved_at is None and case.waiting_on_brand and case.threads == {"1", "9"}
    assert len(build_cases(posts, merge_window_h=1)) == 2


def test_silence_after_a_brand_reply_resolves_and_no_reply_stays_open() -> None:
    posts = [_p("1", 0), _p("2", 5, "Try a restart", parent="1", brand=True), _p("7", 1, author="amy")]
    cases = build_cases(posts, auto_resolve_h=2, now=T0 + timedelta(hours=3))
    jo, amy = sorted(cases, key=lambda c: c.customer != "jo")
    assert jo.resolved_by == "silence" and jo.resolved_at == T0 + timedelta(minutes=5, hours=2)
    assert jo.first_contact_resolution
    assert amy.resolved_at is None and amy.first_response is None
    figures = case_figures(cases)
    assert figures.response_rate == 0.5 and figures.first_response_p50_min == 5.0 and figures.customers == 2


def test_a_brand_reply_to_nothing_known_is_ignored() -> None:
    assert build_cases([_p("2", 5, "hello", parent="404", brand=True)]) == []


def test_replay_reads_the_brands_own_rows_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    records = [{"id": "1", "text": "@Kestrel down", "author_handle": "jo", "created_at": "2017-10-31T09:00:00Z"},
               {"id": "2", "text": "Sorry Jo", "author_handle": "KestrelHelp", "created_at": "2017-10-31T09:05:00Z",
                "parent_id": "1", "from_brand": True}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    plain = ReplaySource(name="r", brand="Kestrel", options={"path": str(path)}).poll(None)
    assert [m.external_id for m in plain.mentions] == ["1"]
    both = ReplaySource(name="r", brand="Kestrel", options={"path": str(path), "brand_posts": True}).poll(None)
    (case,) = build_cases([post_from_mention(m) for m in both.mentions])
    assert case.first_response == timedelta(minutes=5)


def test_replay_keeps_only_this_brands_csv_replies(tmp_path: Path) -> None:
    path = tmp_path / "twcs.csv"
    path.write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,115,True,Tue Oct 31 22:00:00 +0000 2017,@AppleSupport help,2,\n"
        "2,AppleSupport,False,Tue Oct 31 22:09:00 +0000 2017,@115 Happy to help,,1\n"
        "3,sprintcare,False,Tue Oct 31 22:10:00 +0000 2017,@9 Not ours,,8\n", encoding="utf-8")
    batch = ReplaySource(name="r", brand="Apple", options={
        "path": str(path), "brand_posts": True, "brand_handles": ["AppleSupport", "Apple"]}).poll(None)
    assert [(m.external_id, bool(m.raw.get("from_brand"))) for m in batch.mentions] == [("1", False), ("2", True)]


def test_handles_take_a_string_or_a_list() -> None:
    brand = BrandSettings(name="Apple", query="apple", handles={"x": ["AppleSupport", "Apple"], "reddit": "apple"})
    assert brand.handles == {"x": "AppleSupport", "reddit": "apple"}
    assert brand.accounts("x") == ["AppleSupport", "Apple"] and brand.accounts("reddit") == ["apple"]
    assert Settings(brands=[{"name": "A", "query": "a", "handles": {"x": ["A1", "A2"]}}]).cases.merge_window_h == 24


def test_the_migration_turns_existing_queue_items_into_cases(db: Database) -> None:
    ids = seed(db, make_settings(), [post("m1", handle="jo"), post("m2", "@KestrelMobile still down?", handle="amy")])
    with db.session() as session:
        session.query(CasePostRow).delete()
        session.query(CaseRow).delete()
    config = db._alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004_queue")  # takes 0008_cases (and 0006) off, keeping the queue items
        command.upgrade(config, "heads")
    with db.session() as session:
        cases = session.scalars(select(CaseRow).order_by(CaseRow.id)).all()
        posts = session.scalars(select(CasePostRow)).all()
        queued = {item for _, item in ids.values() if item is not None}
        assert {c.queue_item_id for c in cases} == queued
        assert {c.customer_handle for c in cases} <= {"jo", "amy"} and all(c.status == "open" for c in cases)
        assert {p.external_id for p in posts} == {e for e, (_, item) in ids.items() if item is not None}
    assert db.is_current()
