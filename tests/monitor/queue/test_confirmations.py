"""The posts a team handled without correcting them: their stored reading is a confirmation the heads learn from,
on both backends; brandmon's own closings, corrections and later undoings are none."""

from __future__ import annotations

from datetime import timedelta

from core.storage import Database
from monitor.queue.confirmations import load_confirmations
from monitor.queue.items import set_status
from monitor.queue.reclassify import reclassify
from tests.support.queue import BRAND, NOW, Labels, post, seed
from tests.support.settings import make_settings


def test_posts_a_person_answered_or_resolved_confirm_their_stored_reading(db: Database) -> None:
    settings = make_settings()
    texts = {"ok1": "@KestrelMobile no signal in Leeds since 9", "ok2": "@KestrelMobile thanks, the new SIM works",
             "fixed": "@KestrelMobile love the new plan", "bot": "@KestrelMobile bill is wrong again",
             "undone": "@KestrelMobile still no data", "bird": "a kestrel over the A1 this morning"}
    stored = seed(db, settings, [post(key, text, handle=f"user_{key}") for key, text in texts.items()],
                  {"ok2": Labels(sentiment="positive", complaint=False, urgency_category="none", level="low"),
                   "fixed": Labels(sentiment="negative", complaint=True)})
    later = NOW + timedelta(minutes=5)
    set_status(db, stored["ok1"][1], "resolved", "amira", now=later)
    set_status(db, stored["ok2"][1], "replied", "slack:U123", now=later)
    # a reclassified post is a correction, not a confirmation, even once resolved
    reclassify(db, stored["fixed"][0], "amira", sla=settings.sla, sentiment="positive", complaint=False, now=later)
    set_status(db, stored["fixed"][1], "resolved", "amira", now=later + timedelta(minutes=1))
    set_status(db, stored["bot"][1], "resolved", "brandmon", now=later)  # brandmon's own closing
    set_status(db, stored["undone"][1], "resolved", "amira", now=later)
    set_status(db, stored["undone"][1], "new", "ben", now=later + timedelta(minutes=1))  # reopened: not settled
    set_status(db, stored["bird"][1], "not_relevant", "amira", now=later)

    confirmed = {-c.id: c for c in load_confirmations(db, BRAND)}
    assert set(confirmed) == {stored["ok1"][0], stored["ok2"][0]}
    assert (confirmed[stored["ok1"][0]].sentiment, confirmed[stored["ok1"][0]].complaint) == ("negative", True)
    assert (confirmed[stored["ok2"][0]].sentiment, confirmed[stored["ok2"][0]].complaint) == ("positive", False)
    assert confirmed[stored["ok2"][0]].text == texts["ok2"] and confirmed[stored["ok2"][0]].language == "en"
    assert load_confirmations(db, "Orbital Telecom") == []


def test_nothing_handled_confirms_nothing(db: Database) -> None:
    seed(db, make_settings(), [post("c1")])
    assert load_confirmations(db, BRAND) == []
