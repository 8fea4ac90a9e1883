"""Issue 13 on Slack: one customer's thread is one case, one queue item and one Slack message kept current.

The issue's example: a customer's 8-tweet thread with 4 replies typed in the brand's own app became 6
conversations, 7 queue items, 13 Slack alerts and 13 incidents. Routed live (each post as it arrives, then
delivered to a loopback Slack), it is one case, one item and one top-level message: the follow-ups go into its
thread and the message is edited (chat.update) to show the count, the brand's reply and where it was typed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from alerts.slack_loopback import SlackLoopback, message_as_text
from core.storage import Database
from core.storage.case_tables import CaseRow
from core.storage.incident_tables import IncidentRow
from core.storage.schema import OutboxRow, QueueItemRow
from monitor.queue.items import set_status
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock
from tests.support.settings import make_settings

BRANDS = [{"name": "Kestrel Mobile", "query": "kestrel", "handles": {"x": "KestrelMobile"},
           "competitors": ["Orbital Telecom"]},
          {"name": "Orbital Telecom", "query": "orbital", "own": False}]
BRAND = {"handle": "KestrelMobile", "sentiment": "neutral", "complaint": False, "urgency": 0.1, "category": "none",
         "level": "low", "raw": {"from_brand": True}}
NEUTRAL = {"sentiment": "neutral", "complaint": False, "urgency": 0.2, "category": "none", "level": "low"}


def the_thread() -> list[Post]:
    """Eight customer posts and four brand replies typed in the brand's app, a few minutes apart."""
    lines = [
        ("c", "@KestrelMobile my Aero 5 keeps rebooting since the update", {}),
        ("b", "@sam Sorry Sam! Which software version are you on?", BRAND),
        ("c", "@KestrelMobile iOS 11.0.3", NEUTRAL),
        ("c", "@KestrelMobile and it rebooted twice more", {}),
        ("b", "@sam Thanks. Please update to 11.1 and tell us how it goes", BRAND),
        ("c", "@KestrelMobile I upgraded. It didn't work.", NEUTRAL),
        ("c", "@KestrelMobile still rebooting, this is ridiculous", {}),
        ("b", "@sam Sam, we've booked you a repair at the Leeds store", BRAND),
        ("c", "@KestrelMobile when?", NEUTRAL),
        ("b", "@sam Tomorrow 10am, confirmation sent by DM", BRAND),
        ("c", "@KestrelMobile ok", NEUTRAL),
        ("c", "@KestrelMobile that worked, thanks so much!", {"sentiment": "positive", "complaint": False}),
    ]
    posts, parent = [], None
    for i, (who, text, extra) in enumerate(lines):
        options = {"handle": "sam", **extra} if who == "c" else dict(extra)
        post = Post(text, at=T0 + timedelta(minutes=4 * i), external_id=str(7000 + i), parent_id=parent,
                    **options)  # type: ignore[arg-type]
        posts.append(post)
        parent = post.external_id
    return posts


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_one_customers_thread_is_one_case_one_item_and_one_message_kept_current(
        db: Database, slack: SlackLoopback) -> None:
    settings = make_settings(brands=BRANDS)
    clock = Clock(T0)
    wired = Wired(db, settings, slack, clock)
    replied_seen = False
    for post in the_thread():  # live: each post is routed and delivered before the next arrives
        clock.now = post.at + timedelta(seconds=30)
        store(db, [post])
        wired.route()
        wired.drain()
        if post.raw.get("from_brand") and not replied_seen:
            with db.session() as session:
                item = session.execute(select(QueueItemRow)).scalar_one()
            assert item.status == "replied"  # answered in the app: nobody answers it twice
            (message,) = slack.top_level("#care-urgent")
            shown = message_as_text(message)
            assert "replied, waiting for the customer" in shown and "in the network's app" in shown
            assert "Which software version" in shown
            replied_seen = True

    assert (count(db, CaseRow), count(db, QueueItemRow), count(db, IncidentRow)) == (1, 1, 1)
    with db.session() as session:
        case = session.execute(select(CaseRow)).scalar_one()
        item = session.execute(select(QueueItemRow)).scalar_one()
        outbox = session.execute(select(OutboxRow)).scalars().all()
    assert (case.post_count, case.brand_reply_count, case.status, case.resolved_by) == (8, 4, "resolved", "customer")
    assert item.status == "resolved" and case.queue_item_id == item.id
    assert case.first_response_at == T0 + timedelta(minutes=4)

    (message,) = slack.top_level()  # one message for the whole conversation
    assert message["edited"]
    shown = message_as_text(message)
    assert "resolved (the customer confirmed)" in shown and "8 posts from @sam, 4 brand replies" in shown
    assert "Tomorrow 10am" in shown  # the brand's latest reply, as typed in the app
    replies = slack.thread(message["ts"])
    assert [m["blocks"][1]["text"]["text"] for m in replies] == [
        f"> {p.text}" for p in the_thread()[1:] if not p.raw.get("from_brand")]
    assert all("follow-up in case" in message_as_text(m) for m in replies)
    assert len(outbox) == 8 and all(row.status == "sent" for row in outbox)  # one message plus 7 follow-ups
    keys = [m["metadata"]["event_payload"]["dedupe_key"] for m in slack.all_messages()]
    assert len(keys) == len(set(keys)) == 8


def test_resolving_the_item_in_the_queue_edits_the_case_message(db: Database, slack: SlackLoopback) -> None:
    settings = make_settings(brands=BRANDS)
    clock = Clock(T0)
    wired = Wired(db, settings, slack, clock)
    first, follow_up = the_thread()[0], the_thread()[3]
    follow_up.parent_id = first.external_id
    for post in (first, follow_up):
        clock.now = post.at
        store(db, [post])
        wired.route()
        wired.drain()
    with db.session() as session:
        item_id = session.execute(select(QueueItemRow.id)).scalar_one()
    set_status(db, item_id, "resolved", "ana", now=clock.now)
    wired.drain()
    (message,) = slack.top_level()
    assert "resolved (by a responder)" in message_as_text(message) and "2 posts from @sam" in message_as_text(message)
    assert len(slack.thread(message["ts"])) == 1
