"""Incidents, not floods: a replayed outage burst of hundreds of posts is one Slack message kept current."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from core.storage.incident_tables import IncidentMemberRow, IncidentRow
from core.storage.schema import AlertRow, OutboxRow
from monitor.pipeline.route.incidents import jaccard, normalise_link, signature, words
from tests.conftest import make_settings
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock

CITIES = ["Leeds", "Bristol", "Glasgow", "Cardiff", "Brighton", "Norwich", "Derby", "York", "Bath", "Hull"]
STATUS = "https://status.kestrel-mobile.example/incidents/2611"




def sig(text: str, **kw: object) -> object:
    options = {"network": "x", "external_id": "1", "raw": {}, "category": "none", "group_categories": ["outage"]}
    options.update(kw)
    return signature(text=text, **options)  # type: ignore[arg-type]


def test_signatures_see_retweets_links_copies_and_replies() -> None:
    original = sig("Whole kitchen team is on Kestrel and nobody can reach our suppliers this morning", external_id="9")
    retweet = sig(
        "RT @chefrayo: Whole kitchen team is on Kestrel and nobody can reach our suppliers this m…", external_id="10"
    )
    assert retweet.repost and original.keys & retweet.keys  # same opening words
    quote = sig("this is bad https://x.com/chefrayo/status/9", external_id="11")
    assert "ref:x:9" in quote.keys and "ref:x:9" in original.keys
    api_retweet = sig("anything", external_id="12", raw={"referenced_tweets": [{"type": "retweeted", "id": "9"}]})
    assert api_retweet.repost and "ref:x:9" in api_retweet.keys
    linked = sig(f"status page finally up {STATUS}?utm=1 #KestrelDown")
    assert "link:status.kestrel-mobile.example/incidents/2611" in linked.keys
    reply = sig("same here", external_id="13", parent_id="9")
    assert reply.follows == frozenset({"ref:x:9"}) and "ref:x:9" not in reply.keys
    assert "cat:outage" in sig("no bars", category="outage").keys and "cat:none" not in sig("x", category="none").keys
    assert normalise_link("https://www.Example.com/a/?b=1#c") == "example.com/a"
    assert normalise_link("https://status.ke…") is None
    assert words("RT @a: Hello @b, see https://x.y/z … World") == ["hello", "see", "world"]
    first = sig("my bill went up by twenty pounds again this month with no warning at all")
    second = sig("my bill went up by twenty pounds again this month with no warning whatsoever")
    assert jaccard(first.shingles, second.shingles) > 0.7


def outage_burst(count: int) -> list[Post]:
    """An outage as it arrives: complaints in their own words, retweets, a copy-paste notice, the status link."""
    posts = []
    for i in range(count):
        at = T0 + timedelta(seconds=20 * i)
        kind = i % 4
        if kind == 0:
            text = f"no signal on kestrel in {CITIES[i % len(CITIES)]} since {7 + i // 180}am, phone says SOS only #{i}"
            posts.append(Post(text, at=at, category="outage"))
        elif kind == 1:
            posts.append(
                Post(
                    "RT @news_desk: Kestrel Mobile appears to be suffering a full core network outage – "
                    "voice, SMS and data down across the UK",
                    at=at,
                    category="outage",
                    urgency=0.55,
                )
            )
        elif kind == 2:
            posts.append(
                Post(
                    "Kestrel Mobile customers: there is a nationwide outage affecting calls, texts and "
                    f"data. Updates here: {STATUS} Please share",
                    at=at,
                    category="outage",
                    urgency=0.55,
                )
            )
        else:
            posts.append(
                Post(
                    f"{CITIES[i % len(CITIES)]}: status page says investigating {STATUS}",
                    at=at,
                    category="other",
                    urgency=0.7,
                    followers=5000,
                )
            )
    return posts


def test_an_outage_burst_of_hundreds_of_posts_is_one_message_kept_current(db: Database, slack: SlackLoopback) -> None:
    settings = make_settings()
    clock = Clock(T0)
    wired = Wired(db, settings, slack, clock)
    burst = outage_burst(320)
    unrelated = [
        Post(
            "Kestrel charged me twice for October and the chat bot keeps closing my case",
            category="billing",
            at=T0 + timedelta(minutes=30),
        ),
        Post(
            "The Aero 5 Kestrel sold me overheated on charge and burned my hand",
            category="safety",
            urgency=0.9,
            level="critical",
            at=T0 + timedelta(minutes=50),
        ),
    ]
    batches = [burst[i : i + 40] for i in range(0, len(burst), 40)]
    batches[2] = batches[2] + unrelated[:1]
    batches[4] = batches[4] + unrelated[1:]
    for batch in batches:  # live: each poll's posts are routed and delivered before the next arrive
        clock.now = max(p.at for p in batch)
        store(db, batch)
        wired.route()
        wired.drain()

    top = slack.top_level("#care-urgent")
    incident_messages = [m for m in top if "INCIDENT" in m["blocks"][0]["text"]["text"]]
    assert len(incident_messages) == 1 and len(top) == 3  # the outage, the double charge, the burned hand
    root = incident_messages[0]
    assert root["edited"] and "*322 posts*" not in root["blocks"][0]["text"]["text"]
    assert f"*{len(burst)} posts*" in root["blocks"][0]["text"]["text"]
    updates = [args for method, args in slack.calls if method == "chat.update"]
    assert 1 <= len(updates) <= len(batches)  # one edit per routing batch at most, never one per post
    replies = slack.thread(root["ts"])
    assert len(replies) == settings.slack.incident_thread_max  # capped; the rest only move the count
    assert not any("RT @" in m["blocks"][1]["text"]["text"] for m in replies)  # reposts only add to the count
    with db.session() as session:
        outbox = session.execute(select(OutboxRow)).scalars().all()
        incidents = session.execute(select(IncidentRow)).scalars().all()
        reasons = Counter(session.execute(select(IncidentMemberRow.reason)).scalars().all())
        alerts = session.execute(select(AlertRow)).scalars().all()
    assert all(row.status == "sent" for row in outbox)
    assert len(outbox) == 3 + settings.slack.incident_thread_max
    keys = Counter(m["metadata"]["event_payload"]["dedupe_key"] for m in slack.all_messages())
    assert set(keys) == {row.dedupe_key for row in outbox} and max(keys.values()) == 1
    assert sorted(i.member_count for i in incidents) == [1, 1, len(burst)]
    assert {"same text", "same link", "same category"} <= set(reasons)
    assert len(alerts) == len(burst) + 2  # every post is accounted for: a message, or why it only counts


def test_a_dismissed_incident_absorbs_its_copies_quietly(sqlite_db: Database, slack: SlackLoopback) -> None:
    from monitor.web.slack_actions import ActionHandler, ButtonAction

    settings = make_settings()
    clock = Clock(T0)
    wired = Wired(sqlite_db, settings, slack, clock)
    # a link to a lookalike domain (kestrel-free-data.example) would make it a scam: the security route
    spam = "get free kestrel data!!! click here freedata4u.example/claim #free #data #kestrel"
    store(sqlite_db, [Post(spam, category="other", urgency=0.6, complaint=False, sentiment="neutral")])
    wired.route()
    wired.drain()
    (first,) = slack.top_level()
    with sqlite_db.session() as session:
        root = session.execute(select(OutboxRow)).scalar_one()
        incident = session.execute(select(IncidentRow)).scalar_one()
    handler = ActionHandler(sqlite_db, settings.slack, clock=clock)
    result = handler.handle(
        ButtonAction(
            "not_relevant",
            "U1ABC",
            "sam",
            first["channel"],
            first["ts"],
            root.id,
            root.payload["queue_item_id"],
            root.payload["mention_id"],
            incident.id,
        )
    )
    assert result.ok
    wired.drain()
    clock.advance(minutes=5)
    store(
        sqlite_db,
        [
            Post(
                spam, at=T0 + timedelta(minutes=i), category="other", urgency=0.6, complaint=False, sentiment="neutral"
            )
            for i in range(1, 30)
        ],
    )
    wired.route()
    wired.drain()
    assert len(slack.all_messages()) == 1  # no new message, no thread replies
    shown = slack.all_messages()[0]
    assert "INCIDENT" in shown["blocks"][0]["text"]["text"] and "not relevant" in shown["blocks"][0]["text"]["text"]
    with sqlite_db.session() as session:
        assert session.get(IncidentRow, incident.id).member_count == 30  # type: ignore[union-attr]
