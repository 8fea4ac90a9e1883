"""The clicks a relevance filter learns from: people's "not relevant" marks and the posts they handled, on both
backends; brandmon's own closings never count."""

from __future__ import annotations

from core.storage import Database
from monitor.queue.items import set_status
from monitor.queue.relevance_clicks import by_person, load_clicks
from tests.support.queue import BRAND, NOW, Labels, post, seed
from tests.support.relevance import seed_clicks
from tests.support.settings import make_settings


def test_marked_not_relevant_and_handled_posts_are_the_two_sides(db: Database) -> None:
    stored = seed_clicks(db, make_settings(), relevant=3, not_relevant=2, now=NOW)
    clicks = {c.id: c for c in load_clicks(db, BRAND)}
    assert {c.id for c in clicks.values() if c.not_relevant} == {stored["n0"][0], stored["n1"][0]}
    assert {c.id for c in clicks.values() if not c.not_relevant} == {stored[f"c{i}"][0] for i in range(3)}
    assert all(c.language == "en" and c.text for c in clicks.values())
    assert load_clicks(db, "Orbital Telecom") == []


def test_brandmons_own_closing_is_no_click_and_a_reopen_makes_a_post_relevant(db: Database) -> None:
    settings = make_settings()
    stored = seed(db, settings, [post("h1", handle="old"), post("r1", handle="again"), post("q1", handle="quiet")])
    set_status(db, stored["h1"][1], "not_relevant", "brandmon", now=NOW)  # as history and the filter close items
    set_status(db, stored["r1"][1], "not_relevant", "slack:U123", now=NOW)
    set_status(db, stored["r1"][1], "new", "amira", now=NOW)  # a person disagreed: a real customer
    clicks = {c.id: c.not_relevant for c in load_clicks(db, BRAND)}
    assert clicks == {stored["r1"][0]: False}
    assert not by_person("brandmon") and not by_person("brandmon demo") and by_person("slack:U123")


def test_a_reply_typed_in_the_networks_app_makes_the_customers_post_relevant(db: Database) -> None:
    settings = make_settings()
    stored = seed(db, settings, [post("c1", handle="jo")])
    reply = post("b1", "@jo sorry about that, DM us", handle="KestrelMobile", parent_id="c1", minutes_ago=1,
                 raw={"id": "b1", "from_brand": True})
    seed(db, settings, [reply], {"b1": Labels(sentiment="neutral", complaint=False)})
    assert [(c.id, c.not_relevant) for c in load_clicks(db, BRAND)] == [(stored["c1"][0], False)]
