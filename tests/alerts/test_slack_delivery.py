"""Delivery through the outbox to a loopback Slack: pacing, Retry-After, errors, a dead Slack, threads, edits."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from alerts.slack_loopback import Fault, SlackLoopback
from core.outbox import rearm
from core.storage import Database
from core.storage.schema import OutboxRow
from tests.conftest import make_settings
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock

TOPICS = ["billing", "delivery", "churn_risk", "safety", "legal", "other"]




def distinct_posts(count: int, **kw: object) -> list[Post]:
    """Posts that are each their own story (no shared words, links or grouped category)."""
    words = [
        "router",
        "invoice",
        "parcel",
        "contract",
        "battery",
        "lawyer",
        "roaming",
        "esim",
        "engineer",
        "refund",
        "upgrade",
        "handset",
    ]
    return [
        Post(
            f"kestrel {words[i]} problem number {i} {'x' * i}",
            at=T0 + timedelta(minutes=i),
            category=TOPICS[i % len(TOPICS)],
            **kw,
        )
        for i in range(count)
    ]  # type: ignore[arg-type]


def rows(db: Database) -> list[OutboxRow]:
    with db.session() as session:
        return list(session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars().all())


def sent_keys(slack: SlackLoopback) -> Counter[str]:
    return Counter(m["metadata"]["event_payload"]["dedupe_key"] for m in slack.all_messages())


def test_a_429_holds_the_channel_until_retry_after_then_each_alert_goes_once(
    sqlite_db: Database, slack: SlackLoopback
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    wired = Wired(sqlite_db, make_settings(), slack, clock)
    store(sqlite_db, distinct_posts(4))
    wired.route()
    slack.faults.append(
        Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}, method="chat.postMessage")
    )
    assert wired.deliverer.deliver_due() == 0  # the channel is held: nothing else is tried there this tick
    first, *others = rows(sqlite_db)
    assert first.status == "pending" and first.next_attempt_at == clock.now + timedelta(seconds=30)
    assert "rate limited" in (first.last_error or "") and all(r.attempts == 0 for r in others)
    clock.advance(seconds=29)
    assert wired.drain() == 0
    clock.advance(seconds=2)
    assert wired.drain() == 4
    assert max(sent_keys(slack).values()) == 1 and len(slack.all_messages()) == 4


def test_slack_errors_are_kept_with_the_row(sqlite_db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    wired = Wired(sqlite_db, make_settings(), slack, clock)
    store(sqlite_db, distinct_posts(2))
    wired.route()
    slack.faults.append(Fault(200, {"ok": False, "error": "invalid_blocks"}))
    slack.faults.append(Fault(200, {"ok": False, "error": "not_in_channel"}))
    wired.deliverer.deliver_due()
    dead, waiting = rows(sqlite_db)
    assert dead.status == "dead" and "invalid_blocks" in (dead.last_error or "")
    # someone has to invite the bot: that is retried with backoff, not given up
    assert waiting.status == "pending" and "not_in_channel" in (waiting.last_error or "")
    assert waiting.next_attempt_at > clock.now


def test_a_dead_slack_loses_no_alert(sqlite_db: Database) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    settings = make_settings()
    store(sqlite_db, distinct_posts(10))
    with SlackLoopback() as down:
        wired = Wired(sqlite_db, settings, down, clock)
        wired.route()
    # the server is gone: every call is refused
    assert wired.deliverer.deliver_due() == 0
    tried = [r for r in rows(sqlite_db) if r.attempts]
    assert len(tried) == 3  # three failures in a row and the tick stops knocking
    assert all(
        r.status == "pending" and "Slack unreachable" in (r.last_error or "") and r.next_attempt_at > clock.now
        for r in tried
    )
    assert all(r.status == "pending" for r in rows(sqlite_db))
    with SlackLoopback() as back:  # Slack is back (at a new address): everything goes, once
        wired = Wired(sqlite_db, settings, back, clock)
        clock.advance(minutes=15)
        assert wired.drain() == 10
        assert all(r.status == "sent" for r in rows(sqlite_db)) and max(sent_keys(back).values()) == 1


def test_each_channel_is_paced_at_its_own_rate(sqlite_db: Database) -> None:
    settings = make_settings(
        slack={
            "messages_per_second": 1,
            "routes": [
                {"name": "a", "channel": "#a", "urgency_categories": ["billing", "churn_risk", "legal"]},
                {"name": "b", "channel": "#b"},
            ],
        }
    )
    clock_s = [100.0]  # a fake monotonic clock that only sleeping moves
    sent_at: dict[str, list[float]] = {}
    with SlackLoopback(on_message=lambda channel, _m: sent_at.setdefault(channel, []).append(clock_s[0])) as slack:
        wired = Wired(
            sqlite_db,
            settings,
            slack,
            Clock(T0 + timedelta(hours=1)),
            sleep=lambda s: clock_s.__setitem__(0, clock_s[0] + s),
            monotonic=lambda: clock_s[0],
        )
        store(sqlite_db, distinct_posts(6))
        wired.route()
        assert wired.drain() == 6
    assert sorted(sent_at) == ["#a", "#b"] and all(len(times) == 3 for times in sent_at.values())
    for times in sent_at.values():  # one message a second per channel...
        assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in itertools.pairwise(times))
    assert clock_s[0] - 100.0 < 4.0  # ...but channels do not wait for each other (6 messages in under 4 s)


def test_a_thread_reply_waits_for_its_incident_message(sqlite_db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    wired = Wired(sqlite_db, make_settings(), slack, clock)
    store(
        sqlite_db, [Post(f"no signal in town {i} since this morning", at=T0 + timedelta(minutes=i)) for i in range(3)]
    )
    wired.route()
    slack.faults.append(Fault(503, {"ok": False, "error": "service_unavailable"}))
    assert wired.deliverer.deliver_due() == 0
    root, *replies = rows(sqlite_db)
    assert root.status == "pending" and root.attempts == 1
    assert all(r.status == "pending" and r.attempts == 0 and r.next_attempt_at >= root.next_attempt_at for r in replies)
    clock.now = root.next_attempt_at
    wired.drain()
    (message,) = slack.top_level()
    assert [m["metadata"]["event_payload"]["dedupe_key"] for m in slack.thread(message["ts"])] == [
        r.dedupe_key for r in replies
    ]
    assert "*3 posts*" in message["blocks"][0]["text"]["text"]


def test_sends_whose_outcome_is_unknown_are_settled_without_a_second_message(
    sqlite_db: Database, slack: SlackLoopback
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    wired = Wired(sqlite_db, make_settings(), slack, clock)
    store(
        sqlite_db, [Post(f"no signal in town {i} since this morning", at=T0 + timedelta(minutes=i)) for i in range(2)]
    )
    wired.route()
    wired.drain()
    root, reply = rows(sqlite_db)
    with sqlite_db.session() as session:  # the process died after Slack answered, before the commit
        for row_id in (root.id, reply.id):
            row = session.get(OutboxRow, row_id)
            assert row is not None
            row.status, row.sending_since = "sending", clock.now
        session.get(OutboxRow, reply.id).result = None  # type: ignore[union-attr]
    clock.advance(seconds=60)
    calls_before = len(slack.calls)
    wired.deliverer.deliver_due()
    assert all(r.status == "sent" for r in rows(sqlite_db))
    methods = Counter(method for method, _ in slack.calls[calls_before:])
    assert methods["chat.postMessage"] == 0 and methods["chat.update"] == 0
    assert methods["conversations.replies"] >= 1 and methods["conversations.history"] >= 1
    assert len(slack.all_messages()) == 2


def test_an_edit_is_resent_only_when_slack_does_not_show_it(sqlite_db: Database, slack: SlackLoopback) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    wired = Wired(sqlite_db, make_settings(), slack, clock)
    store(sqlite_db, distinct_posts(1))
    wired.route()
    wired.drain()
    (root,) = rows(sqlite_db)
    with sqlite_db.session() as session:
        rearm(session, root.id, {**root.payload, "text": "edited once"}, now=clock.now)
    claimed = wired.deliverer._claim(root.id)  # on the wire...
    assert claimed is not None and claimed.payload["_previous"] == root.result
    with sqlite_db.session() as session:
        rearm(session, root.id, {**root.payload, "text": "edited twice"}, now=clock.now)  # ...when it changes again
    wired.deliverer._sent(claimed, wired.notifier.send(claimed))
    (row,) = rows(sqlite_db)
    assert row.status == "pending" and row.result and row.result["ts"] == root.result["ts"]  # type: ignore[index]
    wired.drain()
    (message,) = slack.all_messages()
    assert "edited twice" in message["blocks"][1]["text"]["text"] and rows(sqlite_db)[0].status == "sent"
    # in doubt after an edit: Slack shows this revision, so it counts as sent without another call
    with sqlite_db.session() as session:
        session.get(OutboxRow, root.id).status = "sending"  # type: ignore[union-attr]
        session.get(OutboxRow, root.id).sending_since = clock.now  # type: ignore[union-attr]
    clock.advance(seconds=60)
    updates = sum(1 for method, _ in slack.calls if method == "chat.update")
    wired.deliverer.deliver_due()
    assert rows(sqlite_db)[0].status == "sent"
    assert sum(1 for method, _ in slack.calls if method == "chat.update") == updates


def test_the_token_never_reaches_the_logs(
    sqlite_db: Database, slack: SlackLoopback, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock(T0 + timedelta(hours=1))
    wired = Wired(sqlite_db, make_settings(), slack, clock)
    store(sqlite_db, distinct_posts(3))
    wired.route()
    slack.faults.append(Fault(500, {"ok": False, "error": "internal_error"}))
    wired.drain()
    clock.advance(minutes=10)
    wired.drain()
    assert len(slack.all_messages()) == 3 and caplog.text
    assert "xoxb-test-secret-token" not in caplog.text
    assert "xoxb-test-secret-token" not in str(wired.notifier.redacted())
