"""Issue 14, scams and impostors in routing: the demo's phishing posts go to the security route, never to a reply.

The posts are the demo stream's own (`monitor/demo/sample_stream.jsonl`): "Kestrel \u202etroppuS" (@kstrl_refunds) with
a "refund portal" link off the brand's domains, and "Kestrel Security Team" (@kestrel_secure1) asking for a PIN.
They are scored as the issue saw them (a HIGH billing complaint) so that, without the check, they would be queued.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from alerts.slack_loopback import SlackLoopback, block_problems, message_as_text
from core.storage import Database
from core.storage.case_tables import CaseRow
from core.storage.schema import AlertRow, MentionRow, QueueItemRow, RoutingRow
from monitor.demo import SAMPLE_STREAM
from monitor.queue.cases_store import case_of_mention
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock
from tests.support.settings import make_settings

BRANDS = [{"name": "Kestrel Mobile", "query": "kestrel", "handles": {"x": "KestrelMobile"},
           "domains": ["kestrel.example"], "competitors": ["Orbital Telecom"]},
          {"name": "Orbital Telecom", "query": "orbital", "own": False}]
PHISHERS = ("kstrl_refunds", "kestrel_secure1")
REPORT = "@KestrelMobile I got a text asking for my PIN and card digits, is this you? Looks like a scam"


def settings_with(**slack: Any) -> Any:
    routes = [{"name": "urgent", "channel": "#care-urgent", "brands": ["Kestrel Mobile"], "min_urgency": 0.5},
              {"name": "complaints", "channel": "#care-complaints", "complaint": True}]
    return make_settings(brands=BRANDS, slack={"messages_per_second": 1000, "routes": routes, **slack})


def demo_rows() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in SAMPLE_STREAM.open(encoding="utf-8")]
    return {row["author_handle"]: row for row in rows if row["author_handle"] in PHISHERS}


def store_as_demo(db: Database, row: dict[str, Any], *, at: Any, parent_id: str | None = None) -> int:
    """Store a demo post as the issue saw it scored (a HIGH billing complaint), with its real display name."""
    (mention_id,) = store(db, [Post(row["text"], at=at, handle=row["author_handle"], external_id=row["id"],
                                    sentiment="negative", complaint=True, urgency=0.8, category="billing",
                                    level="high", parent_id=parent_id)])
    with db.session() as session:
        session.execute(update(MentionRow).where(MentionRow.id == mention_id).values(author_name=row["author_name"]))
    return mention_id


def routing_of(db: Database, mention_id: int) -> dict[str, Any]:
    with db.session() as session:
        return dict(session.execute(select(RoutingRow.matched_rules).where(RoutingRow.mention_id == mention_id))
                    .scalar_one())


def test_the_demo_phishing_posts_go_to_the_security_channel_and_a_scam_report_is_answered(
        db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(minutes=5))
    wired = Wired(db, settings_with(security_channel="#security"), slack, clock)
    phishing = {handle: store_as_demo(db, row, at=T0 + timedelta(minutes=i)) for i, (handle, row)
                in enumerate(sorted(demo_rows().items()))}
    (report,) = store(db, [Post(REPORT, at=T0 + timedelta(minutes=3), handle="maya_r")])
    assert wired.route() == 3
    wired.drain()

    with db.session() as session:
        items = session.execute(select(QueueItemRow)).scalars().all()
        in_cases = {handle: case_of_mention(session, mention_id) for handle, mention_id in phishing.items()}
    assert [(item.mention_id, item.kind) for item in items] == [(report, "respond")]  # no respond, no thank
    assert in_cases == {"kestrel_secure1": None, "kstrl_refunds": None}  # no customer conversation
    for handle, mention_id in phishing.items():
        decision = routing_of(db, mention_id)
        assert decision["scam"]["flag"] is True and decision["queue"] is None, handle
        assert decision["alerts"] == ["security"] and decision["security"]["channel"] == "#security"
    assert any("bidirectional" in r for r in routing_of(db, phishing["kstrl_refunds"])["scam"]["reasons"])
    assert any("PIN" in r for r in routing_of(db, phishing["kestrel_secure1"])["scam"]["reasons"])
    assert "scam" not in routing_of(db, report)

    shown = {message["blocks"][1]["text"]["text"]: message for message in slack.top_level("#security")}
    assert len(shown) == 2
    for message in shown.values():
        text = message_as_text(message)
        assert "*SUSPECTED IMPERSONATION* of Kestrel Mobile" in text and "Do not engage — report the account." in text
        assert "Why it was flagged" in text and "no `security_channel` is set" not in text
        assert "\u202e" not in json.dumps(message["blocks"], ensure_ascii=False)  # bidi override replaced
        assert not block_problems(message["blocks"])
        assert not [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                    if e["action_id"] in ("claim", "reclassify", "not_relevant")]  # nothing to answer
    secure = next(m for m in slack.all_messages() if "PIN" in m["blocks"][2]["text"]["text"])
    assert "&lt;!channel&gt;" in secure["blocks"][2]["text"]["text"]  # the bait's broadcast cannot ping
    care = [message_as_text(m) for channel in ("#care-urgent", "#care-complaints") for m in slack.top_level(channel)]
    assert len(care) == 1 and "is this you?" in care[0]  # the customer's report is routed as any complaint


def test_without_a_security_channel_the_brands_first_route_hears_of_it_marked(
        db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(minutes=5))
    wired = Wired(db, settings_with(), slack, clock)
    store_as_demo(db, demo_rows()["kstrl_refunds"], at=T0)
    wired.route()
    wired.drain()
    (message,) = slack.top_level("#care-urgent")
    text = message_as_text(message)
    assert "SUSPECTED IMPERSONATION" in text and "no `security_channel` is set" in text
    assert "Do not engage — report the account." in text
    assert not slack.top_level("#care-complaints")
    with db.session() as session:
        assert session.execute(select(QueueItemRow)).first() is None


def test_an_impostor_in_a_customers_thread_leaves_the_case_alone(db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(minutes=5))
    wired = Wired(db, settings_with(security_channel="#security"), slack, clock)
    (complaint,) = store(db, [Post("@KestrelMobile charged twice this month", at=T0, handle="sam",
                                   external_id="8100", category="billing")])
    bait = store_as_demo(db, demo_rows()["kstrl_refunds"], at=T0 + timedelta(minutes=1), parent_id="8100")
    wired.route()
    wired.drain()
    with db.session() as session:
        (case,) = session.execute(select(CaseRow)).scalars().all()
        (item,) = session.execute(select(QueueItemRow)).scalars().all()
    assert (case.post_count, item.mention_id, item.status) == (1, complaint, "new")
    assert routing_of(db, bait)["scam"]["flag"] is True
    assert len(slack.top_level("#security")) == 1


def test_a_phishing_post_read_as_history_is_recorded_not_sent(db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(days=2))  # a backfill: far older than slack.max_age_min
    wired = Wired(db, settings_with(security_channel="#security"), slack, clock)
    mention_id = store_as_demo(db, demo_rows()["kestrel_secure1"], at=T0)
    wired.route()
    wired.drain()
    assert not slack.all_messages()
    with db.session() as session:
        alert = session.execute(select(AlertRow).where(AlertRow.mention_id == mention_id)).scalar_one()
    assert (alert.rule, alert.channel, alert.outbox_id) == ("security", "#security", None)
    assert (alert.suppressed_reason or "").startswith("history")
