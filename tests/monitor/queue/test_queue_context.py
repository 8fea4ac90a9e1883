"""Customer context beside a post (its case's conversation, earlier cases), and SLA warnings on business hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.domain import ReplyPath
from core.storage import Database
from core.storage.schema import MentionRow
from monitor.queue.context import current_thread_state, customer_context, mark_seen
from monitor.queue.items import item_url
from monitor.queue.sla import deadlines, sla_status
from tests.support.queue import NOW, Labels, post, seed
from tests.support.settings import make_settings


def test_context_shows_earlier_posts_replies_sentiment_and_the_thread(db: Database) -> None:
    settings = make_settings()
    seeded = seed(db, settings, [
        post("1", "kestrel is great", minutes_ago=60 * 24 * 30),
        post("2", "kestrel billing is a mess", minutes_ago=60 * 24 * 7),
        post("3", "@KestrelMobile no signal again", minutes_ago=30, conversation_id="3"),
        post("4", "@KestrelMobile any news?", minutes_ago=5, conversation_id="3", parent_id="3"),
        post("5", "@KestrelMobile same here", handle="someone_else", minutes_ago=4, conversation_id="3",
             parent_id="3"),
        post("9", "kestrel unrelated person", handle="other", minutes_ago=3),
    ], {"1": Labels(sentiment="positive", complaint=False, level="low", urgency_category="none"),
        "2": Labels(sentiment="negative"), "3": Labels(), "4": Labels(sentiment="neutral")})
    context = customer_context(db, seeded["3"][0])
    assert [p.text for p in context.thread] == ["@KestrelMobile no signal again", "@KestrelMobile any news?",
                                                "@KestrelMobile same here"]
    assert [p.is_current for p in context.thread] == [True, False, False]
    assert [p.text for p in context.earlier_posts] == ["kestrel billing is a mess", "kestrel is great"]
    assert context.sentiment_trend == "+--0"
    assert context.sentiment_counts == {"positive": 1, "negative": 2, "neutral": 1}
    assert context.earlier_replies == []


def test_mark_seen_records_the_newest_post_and_reply_count(db: Database) -> None:
    mention_id, item_id = seed(db, make_settings(), [post("1", conversation_id="1")])["1"]
    assert item_id is not None
    first = mark_seen(db, item_id, mention_id, "ana", now=NOW)
    seed(db, make_settings(), [post("2", conversation_id="1", parent_id="1", minutes_ago=1)])
    second = mark_seen(db, item_id, mention_id, "ana", now=NOW)
    assert (first.reply_count, second.reply_count) == (0, 0)
    assert second.newest_mention_id > first.newest_mention_id
    assert "new posts arrived" in second.differences(first)


def test_deadlines_count_business_hours_in_the_configured_zone() -> None:
    sla = make_settings(sla={"timezone": "Europe/London", "business_hours": ["09:00", "17:00"],
                             "business_days": [0, 1, 2, 3, 4]}).sla
    friday_late = datetime(2026, 11, 20, 16, 50, tzinfo=UTC)  # 16:50 in London (GMT in November)
    first, resolve = deadlines(friday_late, "high", sla)  # 60 and 480 business minutes
    assert first == datetime(2026, 11, 23, 9, 50, tzinfo=UTC)  # 10 minutes on Friday, 50 on Monday
    assert resolve == datetime(2026, 11, 23, 16, 50, tzinfo=UTC)


def test_sla_status_warns_before_the_deadline_and_flags_breaches() -> None:
    due = NOW + timedelta(minutes=30)
    common = {"resolution_due": NOW + timedelta(hours=8), "resolved_at": None, "warning_min": 15}
    assert sla_status(first_response_due=due, first_response_at=None, now=NOW, **common).state == "ok"
    warning = sla_status(first_response_due=due, first_response_at=None, now=due - timedelta(minutes=15), **common)
    assert (warning.state, warning.target, warning.minutes_left) == ("warning", "first response", 15)
    assert sla_status(first_response_due=due, first_response_at=None, now=due, **common).state == "breached"
    answered = sla_status(first_response_due=due, first_response_at=NOW, now=due + timedelta(hours=1), **common)
    assert (answered.target, answered.state) == ("resolution", "ok")
    done = sla_status(first_response_due=due, first_response_at=NOW, resolution_due=NOW, resolved_at=NOW
                      + timedelta(minutes=1), now=NOW, warning_min=15)
    assert (done.target, done.state) == ("done", "breached")


def test_item_links_for_slack_point_at_the_web_page() -> None:
    assert item_url("https://care.example.com/", 42) == "https://care.example.com/items/42"
    assert item_url(None, 42) is None and item_url("javascript:alert(1)", 42) is None


def test_context_shows_the_whole_conversation_earlier_cases_and_the_first_name(db: Database) -> None:
    settings = make_settings()
    ten_days = 60 * 24 * 10
    brand = {"handle": "KestrelMobile", "raw": {"from_brand": True}}
    seed(db, settings, [
        post("e1", "@KestrelMobile my bill is wrong", minutes_ago=ten_days),
        post("e2", "Sorry Jo, refunded", parent_id="e1", minutes_ago=ten_days - 5, **brand),  # type: ignore[arg-type]
        post("e3", "@KestrelMobile thanks!", parent_id="e2", minutes_ago=ten_days - 9),
        post("1", "@KestrelMobile no signal in Leeds", minutes_ago=30),
        post("2", "Which postcode, Jo?", parent_id="1", minutes_ago=20, **brand),  # type: ignore[arg-type]
        post("3", "@KestrelMobile LS1", parent_id="2", minutes_ago=10, reply_path=ReplyPath.API),
    ], {"e3": Labels(sentiment="positive", complaint=False), "3": Labels(sentiment="neutral", complaint=False)})
    with db.session() as session:
        current = session.scalar(select(MentionRow.id).where(MentionRow.external_id == "1"))
    assert current is not None
    context = customer_context(db, current)
    assert [(p.author, p.from_brand, p.via, p.text) for p in context.conversation] == [
        ("jo_bloggs", False, None, "@KestrelMobile no signal in Leeds"),
        ("KestrelMobile", True, "native", "Which postcode, Jo?"),
        ("jo_bloggs", False, None, "@KestrelMobile LS1")]
    assert context.conversation[0].is_current and context.first_name == "Jo"
    (earlier,) = context.earlier_cases
    assert earlier.outcome == "resolved: the customer confirmed after our reply"
    assert (earlier.first_text, earlier.posts, earlier.brand_replies) == ("@KestrelMobile my bill is wrong", 2, 1)
    assert [(r.text, r.status) for r in context.earlier_replies] == [("Which postcode, Jo?", "native"),
                                                                     ("Sorry Jo, refunded", "native")]
    # a reply typed in the network's app while a responder reads changes what they must have seen
    assert context.case is not None and context.case.queue_item_id is not None
    seen = mark_seen(db, context.case.queue_item_id, current, "ana", now=NOW)
    seed(db, settings, [post("4", "Engineers are on it", parent_id="3", minutes_ago=1, **brand)])  # type: ignore[arg-type]
    changed = current_thread_state(db, current).differences(seen)
    assert changed == "new posts arrived in the thread and 1 reply was added"
