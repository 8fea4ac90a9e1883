"""Cases (issue 13): one case per customer conversation, kept live by the router; its one item; the migration.

The state of a case is folded from its posts (`fold`, pure); the router keeps the stored cases, their one queue
item and their one Slack message current as posts arrive (tests/monitor/pipeline/test_cases_live.py for Slack).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from core.settings import Settings
from core.settings.brands import BrandSettings
from core.storage import Database
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import AlertRow, AuditRow, QueueItemRow, ReplyRow
from monitor.pipeline.deliver import Deliverer
from monitor.pipeline.route import route_pending
from monitor.pipeline.sweep import purge_mentions
from monitor.queue.context import mark_seen
from monitor.queue.items import claim, set_status
from monitor.queue.replies import ReplyNotifier, queue_reply
from monitor.queue.sla import deadlines
from sources.replay import ReplaySource
from tests.support.alerts import Post as Stored
from tests.support.alerts import store
from tests.support.queue import NOW, PostingSource, post, seed
from tests.support.settings import make_settings

T0 = datetime(2017, 10, 31, 9, 0, tzinfo=UTC)
BRANDS = [{"name": "Kestrel Mobile", "query": "kestrel", "handles": {"x": ["KestrelHelp", "KestrelMobile"]},
           "competitors": ["Orbital Telecom"]},
          {"name": "Orbital Telecom", "query": "orbital", "own": False}]


# -- kept live by the router ----------------------------------------------------------------------------------

def _settings(**overrides: object) -> Settings:
    return make_settings(brands=BRANDS, slack={"enabled": False}, **overrides)


def _cases(db: Database) -> list[CaseRow]:
    with db.session() as session:
        return list(session.scalars(select(CaseRow).order_by(CaseRow.id)).all())


def _items(db: Database) -> list[QueueItemRow]:
    with db.session() as session:
        return list(session.scalars(select(QueueItemRow).order_by(QueueItemRow.id)).all())


def _route(db: Database, settings: Settings, posts: list[Stored], now: datetime) -> None:
    store(db, posts)
    route_pending(db, settings, now=now)


BRAND_POST = {"handle": "KestrelMobile", "sentiment": "neutral", "complaint": False, "urgency": 0.1,
              "category": "none", "level": "low"}
NEUTRAL = {"sentiment": "neutral", "complaint": False, "urgency": 0.1, "category": "none", "level": "low"}


def test_one_customers_thread_with_native_replies_is_one_case_and_one_item(db: Database) -> None:
    settings, at = _settings(), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    thread = [Stored("@KestrelMobile my parcel never came", at=at, handle="jo", external_id="1"),
              Stored("Sorry Jo, can you DM us the order?", at=at + timedelta(minutes=12), external_id="2",
                     parent_id="1", raw={"from_brand": True}, **BRAND_POST),  # type: ignore[arg-type]
              Stored("@KestrelMobile I upgraded. It didn't work.", at=at + timedelta(minutes=20), handle="jo",
                     external_id="3", parent_id="2", **NEUTRAL),  # type: ignore[arg-type]
              Stored("@jo Which version?", at=at + timedelta(minutes=25), external_id="4", parent_id="3",
                     **BRAND_POST),  # type: ignore[arg-type]  # a brand account, not marked from_brand
              Stored("@KestrelMobile iOS 11.0.3", at=at + timedelta(minutes=30), handle="jo", external_id="5",
                     parent_id="4", **NEUTRAL)]  # type: ignore[arg-type]
    states = []
    for i, one in enumerate(thread):
        _route(db, settings, [one], one.at + timedelta(minutes=1))
        states.append((_cases(db)[0].status, _items(db)[0].status))
        if i == 2:  # the follow-up put the answered item back to "new", its SLA counted from the follow-up
            (item,) = _items(db)
            assert item.first_response_at is None
            assert item.first_response_due == deadlines(one.at, "high", settings.sla)[0]  # the case's level
    assert states == [("open", "new"), ("replied", "replied"), ("open", "new"), ("replied", "replied"),
                      ("open", "new")]
    (case,) = _cases(db)
    assert (case.post_count, case.brand_reply_count, case.customer_handle) == (3, 2, "jo")
    assert case.first_response_at == at + timedelta(minutes=12) and len(_items(db)) == 1
    with db.session() as session:
        via = sorted(session.scalars(select(CasePostRow.via).where(CasePostRow.from_brand)).all())
        actions = session.scalars(select(AuditRow.action).order_by(AuditRow.id)).all()
    assert via == ["native", "native"]
    assert actions == ["queued", "marked_replied", "case_follow_up", "marked_replied", "case_follow_up"]


def test_a_native_reply_read_hours_late_still_moves_the_item_to_replied(db: Database) -> None:
    settings, at = _settings(), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    _route(db, settings, [Stored("@KestrelMobile no signal", at=at, handle="jo", external_id="1")], at)
    late = at + timedelta(hours=3)  # the brand's own posts are polled less often than mentions
    _route(db, settings, [Stored("Sorry Jo, on it", at=at + timedelta(minutes=5), external_id="2", parent_id="1",
                                 raw={"from_brand": True}, **BRAND_POST)], late)  # type: ignore[arg-type]
    (case,), (item,) = _cases(db), _items(db)
    assert (case.status, item.status, item.first_response_at) == ("replied", "replied", at + timedelta(minutes=5))


def test_a_native_reply_read_before_the_post_it_answers_is_taken_into_its_case(db: Database) -> None:
    settings, at = _settings(), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    reply = Stored("Sorry Jo, on it", at=at + timedelta(minutes=5), external_id="2", parent_id="1",
                   raw={"from_brand": True}, **BRAND_POST)  # type: ignore[arg-type]
    _route(db, settings, [reply], at + timedelta(minutes=6))  # the post it answers is not stored yet
    assert _cases(db) == []
    _route(db, settings, [Stored("@KestrelMobile no signal", at=at, handle="jo", external_id="1")],
           at + timedelta(minutes=7))
    (case,), (item,) = _cases(db), _items(db)
    assert (case.status, case.brand_reply_count, item.status) == ("replied", 1, "replied")


def test_thanks_resolves_silence_resolves_and_a_new_thread_in_the_window_reopens(db: Database) -> None:
    settings, at = _settings(cases={"auto_resolve_h": 2}), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    _route(db, settings, [Stored("@KestrelMobile no signal", at=at, handle="jo", external_id="1")], at)
    _route(db, settings, [Stored("Fixed now?", at=at + timedelta(minutes=5), external_id="2", parent_id="1",
                                 raw={"from_brand": True}, **BRAND_POST)], at)  # type: ignore[arg-type]
    _route(db, settings, [Stored("@KestrelMobile yes, that worked, thanks!", at=at + timedelta(minutes=9),
                                 handle="jo", external_id="3", parent_id="2", sentiment="positive", complaint=False)],
           at + timedelta(minutes=10))
    (case,), (item,) = _cases(db), _items(db)
    assert (case.status, case.resolved_by, item.status) == ("resolved", "customer", "resolved")
    later = at + timedelta(hours=20)
    _route(db, settings, [Stored("@KestrelMobile no signal again today", at=later, handle="jo", external_id="9")],
           later)
    (case,), (item,) = _cases(db), _items(db)
    assert (case.status, item.status, case.post_count) == ("open", "new", 3)  # same case, same item, reopened
    _route(db, settings, [Stored("Sorry, checking", at=later + timedelta(minutes=3), external_id="10",
                                 parent_id="9", raw={"from_brand": True}, **BRAND_POST)],  # type: ignore[arg-type]
           later + timedelta(minutes=4))
    route_pending(db, settings, now=later + timedelta(hours=3))  # two hours of silence after the brand's word
    (case,), (item,) = _cases(db), _items(db)
    assert (case.status, case.resolved_by, item.status) == ("resolved", "silence", "resolved")
    assert case.resolved_at == later + timedelta(minutes=3, hours=2)
    far = later + timedelta(days=3)
    _route(db, settings, [Stored("@KestrelMobile new phone, new problem", at=far, handle="jo", external_id="20")],
           far)
    assert len(_cases(db)) == 2 and len(_items(db)) == 2  # past the merge window: a new case


def test_each_customer_answering_a_brand_broadcast_is_their_own_case(db: Database) -> None:
    settings, at = _settings(), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    _route(db, settings, [
        Stored("Costume day! Come in dressed up", at=at, external_id="81", raw={"from_brand": True},
               **BRAND_POST),  # type: ignore[arg-type]
        Stored("@KestrelMobile is it extra with a phone case?", at=at + timedelta(minutes=1), handle="amy",
               external_id="82", parent_id="81"),
        Stored("@KestrelMobile my kid loved it", at=at + timedelta(minutes=2), handle="bob", external_id="83",
               parent_id="81", sentiment="positive", complaint=False),
        Stored("Nope! Same price", at=at + timedelta(minutes=3), external_id="84", parent_id="82",
               raw={"from_brand": True}, **BRAND_POST),  # type: ignore[arg-type]
        Stored("@KestrelMobile great, thanks", at=at + timedelta(minutes=4), handle="amy", external_id="85",
               parent_id="84", sentiment="positive", complaint=False)], at + timedelta(minutes=5))
    amy, bob = _cases(db)
    assert (amy.customer_handle, amy.post_count, amy.brand_reply_count, amy.status) == ("amy", 2, 1, "resolved")
    assert (bob.customer_handle, bob.post_count, bob.status) == ("bob", 1, "open")


def test_a_thread_read_out_of_order_lands_in_one_case(db: Database) -> None:
    settings, at = _settings(), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    store(db, [Stored("@KestrelMobile still nothing", at=at + timedelta(minutes=20), handle="jo", external_id="3",
                      parent_id="2"),
               Stored("On it", at=at + timedelta(minutes=10), external_id="2", parent_id="1",
                      raw={"from_brand": True}, **BRAND_POST),  # type: ignore[arg-type]
               Stored("@KestrelMobile my bill is wrong", at=at, handle="jo", external_id="1")])
    route_pending(db, settings, now=at + timedelta(minutes=21), batch_size=1)  # each reply waits for its post
    (case,) = _cases(db)
    assert (case.post_count, case.brand_reply_count, case.status) == (2, 1, "open")
    assert case.first_response_at == at + timedelta(minutes=10) and case.opened_at == at


def test_a_neutral_follow_up_is_never_dropped_and_competitors_get_no_case(db: Database) -> None:
    settings, at = _settings(), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    _route(db, settings, [Stored("@KestrelMobile where is my order", at=at, handle="jo", external_id="1"),
                          Stored("ok", at=at + timedelta(minutes=2), handle="jo", external_id="2", parent_id="1",
                                 **NEUTRAL),  # type: ignore[arg-type]
                          Stored("orbital is down", at=at, handle="zed", external_id="50", brand="Orbital Telecom")],
           at + timedelta(minutes=3))
    (case,) = _cases(db)
    assert case.post_count == 2 and len(_items(db)) == 1


def test_resolving_the_item_resolves_the_case_and_reopening_reopens_it(db: Database) -> None:
    settings = _settings()
    seeded = seed(db, settings, [post("1", handle="jo")])
    item_id = seeded["1"][1]
    assert item_id is not None
    set_status(db, item_id, "resolved", "ana")
    (case,) = _cases(db)
    assert (case.status, case.resolved_by) == ("resolved", "responder")
    set_status(db, item_id, "new", "ana")
    (case,) = _cases(db)
    assert (case.status, case.resolved_by) == ("open", None)
    set_status(db, item_id, "not_relevant", "ana")
    seed(db, settings, [post("2", "@KestrelMobile hello??", handle="jo", parent_id="1", minutes_ago=1)])
    (case,), (item,) = _cases(db), _items(db)
    assert (case.status, case.resolved_by, case.post_count, item.status) == ("resolved", "not_relevant", 2,
                                                                             "not_relevant")


# -- brand posts from replay; settings; the migration ---------------------------------------------------------

def test_replay_reads_the_brands_own_rows_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    records = [{"id": "1", "text": "@Kestrel down", "author_handle": "jo", "created_at": "2017-10-31T09:00:00Z"},
               {"id": "2", "text": "Sorry Jo", "author_handle": "KestrelHelp", "created_at": "2017-10-31T09:05:00Z",
                "parent_id": "1", "from_brand": True}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    plain = ReplaySource(name="r", brand="Kestrel", options={"path": str(path)}).poll(None)
    assert [m.external_id for m in plain.mentions] == ["1"]
    both = ReplaySource(name="r", brand="Kestrel", options={"path": str(path), "brand_posts": True}).poll(None)
    assert [(m.external_id, bool(m.raw.get("from_brand"))) for m in both.mentions] == [("1", False), ("2", True)]


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


def test_handles_take_a_string_or_a_list_and_case_settings_are_checked() -> None:
    brand = BrandSettings(name="Apple", query="apple", handles={"x": ["AppleSupport", "Apple"], "reddit": "apple"})
    assert brand.handles == {"x": "AppleSupport", "reddit": "apple"}
    assert brand.accounts("x") == ["AppleSupport", "Apple"] and brand.accounts("reddit") == ["apple"]
    settings = Settings(brands=[{"name": "A", "query": "a", "handles": {"x": ["A1", "A2"]}}])
    assert settings.cases.merge_window_h == 24 and settings.cases.business_hours == ("09:00", "17:00")
    for bad in ({"business_hours": ["17:00", "09:00"]}, {"business_days": [7]}, {"timezone": "Mars/Base"}):
        with pytest.raises(ValueError):
            Settings(brands=[{"name": "A", "query": "a"}], cases=bad)


def test_the_migrations_turn_existing_queue_items_into_cases(db: Database) -> None:
    ids = seed(db, make_settings(), [post("m1", handle="jo"), post("m2", "@KestrelMobile still down?", handle="amy")])
    jo_mention, jo_item = ids["m1"]
    assert jo_item is not None
    with db.session() as session:
        session.add(ReplyRow(queue_item_id=jo_item, mention_id=jo_mention, author="ana", text="Sorry Jo",
                             status="posted", external_id="r-1", created_at=NOW, posted_at=NOW + timedelta(minutes=3)))
        session.query(CasePostRow).delete()
        session.query(CaseRow).delete()
    config = db._alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004_queue")  # takes 0009, 0008_cases (and 0006) off, keeping the queue items
        command.upgrade(config, "heads")
    with db.session() as session:
        cases = session.scalars(select(CaseRow).order_by(CaseRow.id)).all()
        posts = session.scalars(select(CasePostRow)).all()
        queued = {item for _, item in ids.values() if item is not None}
        assert {c.queue_item_id for c in cases} == queued
        assert {c.customer_handle for c in cases} <= {"jo", "amy"} and all(c.status == "open" for c in cases)
        assert {p.external_id for p in posts} == {e for e, (_, item) in ids.items() if item is not None} | {"r-1"}
        customer_posts = [p for p in posts if not p.from_brand]
        assert all(p.thread_key == p.external_id for p in customer_posts)  # filled in by 0009_live_cases
        assert all(c.needs_response_at == c.opened_at and c.first_response_due is not None for c in cases)
        (reply,) = [p for p in posts if p.from_brand]  # the reply posted through brandmon is the brand's post
        assert (reply.external_id, reply.via, reply.thread_key, reply.parent_external_id) == ("r-1", "brandmon",
                                                                                               "m1", "m1")
        jo = next(c for c in cases if c.queue_item_id == jo_item)
        assert jo.last_brand_at == NOW + timedelta(minutes=3)
        alerted = session.scalar(select(AlertRow.outbox_id).where(AlertRow.mention_id == jo_mention))
        assert alerted is not None and jo.outbox_id == alerted  # the case's Slack message
    assert db.is_current()


# -- replies through brandmon; posts deleted on their network ------------------------------------------------

def test_a_reply_posted_through_brandmon_is_the_brands_post_in_the_case_once(db: Database) -> None:
    settings = _settings()
    mention_id, item_id = seed(db, settings, [post("100", conversation_id="100")])["100"]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    source = PostingSource()
    queue_reply(db, item_id, "ana", "Sorry Jo, engineers are on it", now=NOW)
    Deliverer(db, {"reply": ReplyNotifier(db, {source.name: source}, clock=lambda: NOW)}, messages_per_second=1000,
              clock=lambda: NOW).deliver_due()
    (case,) = _cases(db)
    assert (case.status, case.brand_reply_count, case.first_response_at) == ("replied", 1, NOW + timedelta(minutes=1))
    with db.session() as session:
        (brand_post,) = session.scalars(select(CasePostRow).where(CasePostRow.from_brand)).all()
    assert (brand_post.via, brand_post.author, brand_post.external_id) == ("brandmon", "ana", "9001")
    # the source reads the brand's own posts: the same reply comes back and is linked, not counted twice
    seed(db, settings, [post("9001", "Sorry Jo, engineers are on it", handle="KestrelMobile", parent_id="100",
                             minutes_ago=-1, raw={"from_brand": True})])
    (case,) = _cases(db)
    assert case.brand_reply_count == 1
    with db.session() as session:
        linked = session.scalars(select(CasePostRow).where(CasePostRow.from_brand)).one()
    assert linked.via == "brandmon" and linked.mention_id is not None


def test_a_post_deleted_on_its_network_leaves_its_case(db: Database) -> None:
    settings = _settings()
    seeded = seed(db, settings, [post("1", handle="jo"), post("2", "@KestrelMobile and again", handle="jo",
                                                              parent_id="1", minutes_ago=2)])
    with db.session() as session:
        purge_mentions(session, [seeded["2"][0]], now=datetime.now(UTC))
    (case,) = _cases(db)
    assert case.post_count == 1
    with db.session() as session:
        purge_mentions(session, [seeded["1"][0]], now=datetime.now(UTC))
    assert _cases(db) == []
