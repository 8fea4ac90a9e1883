"""Batched routes (`batch_every_min`): one summary per route, channel and window; urgent routes send at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from alerts.slack_loopback import Fault, SlackLoopback, block_problems
from core.settings import Settings
from core.storage import Database
from core.storage.schema import OutboxRow
from monitor.pipeline import batches
from tests.conftest import make_settings
from tests.support.alerts import Post, Wired, store
from tests.support.clock import Clock

#: 07:40 UTC: inside the 07:30-08:00 window of a 30-minute route.
START = datetime(2026, 11, 19, 7, 40, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
TEXTS = ("kestrel charged me twice this month", "my kestrel parcel never arrived at all",
         "the kestrel app keeps logging me out", "kestrel support hung up on me again")


def settings_for(**slack: Any) -> Settings:
    return make_settings(slack={
        "messages_per_second": 1000,
        "routes": [
            {"name": "urgent", "channel": "#care-urgent", "min_urgency": 0.9},
            {"name": "everything", "channel": "#care", "batch_every_min": 30},
        ],
        **slack,
    })


def statuses(db: Database) -> list[str]:
    with db.session() as session:
        return sorted(session.execute(select(OutboxRow.status)).scalars())


def test_posts_of_one_window_make_one_message_with_a_line_and_buttons_each(
    sqlite_db: Database, slack: SlackLoopback
) -> None:
    clock = Clock(START)
    wired = Wired(sqlite_db, settings_for(), slack, clock)
    store(sqlite_db, [Post(text, at=START, category="billing", urgency=0.4, handle=f"author{i}")
                      for i, text in enumerate(TEXTS)]
          + [Post("\u202eevil\u202c kestrel <!channel> is broken", at=START, category="billing", urgency=0.4)])
    wired.route()
    assert wired.drain() == 0 and slack.all_messages() == []
    assert statuses(sqlite_db) == ["batched"] * 5
    clock.now = WINDOW_END - timedelta(seconds=1)
    assert wired.drain() == 0
    clock.now = WINDOW_END
    assert wired.drain() == 1
    (message,) = slack.top_level("#care")
    assert block_problems(message["blocks"]) == []
    sections = [b for b in message["blocks"] if b["type"] == "section"]
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert "5 posts" in sections[0]["text"]["text"] and len(sections) == 6 and len(actions) == 5
    lines = "\n".join(s["text"]["text"] for s in sections[1:])
    assert all(f"\u2068author{i}\u2069" in lines for i in range(len(TEXTS)))
    assert "\u202e" not in lines and "<!channel>" not in lines and "&lt;!channel&gt;" in lines
    assert all({e["action_id"] for e in a["elements"]} >= {"claim", "open_post"} for a in actions)
    assert len({a["block_id"] for a in actions}) == 5
    assert statuses(sqlite_db) == ["sent"] * 5
    assert wired.drain() == 0 and len(slack.all_messages()) == 1


def test_an_urgent_post_goes_at_once_while_the_rest_waits_for_the_window(
    sqlite_db: Database, slack: SlackLoopback
) -> None:
    clock = Clock(START)
    wired = Wired(sqlite_db, settings_for(), slack, clock)
    store(sqlite_db, [Post("kestrel phone caught fire in my pocket", category="safety", urgency=0.95,
                           level="critical"),
                      Post(TEXTS[0], category="billing", urgency=0.4)])
    wired.route()
    assert wired.drain() == 1
    assert len(slack.top_level("#care-urgent")) == 1 and slack.top_level("#care") == []
    clock.now = WINDOW_END
    assert wired.drain() == 1 and len(slack.top_level("#care")) == 1


def test_a_full_window_splits_into_messages_under_fifty_blocks(sqlite_db: Database, slack: SlackLoopback) -> None:
    clock = Clock(START)
    wired = Wired(sqlite_db, settings_for(), slack, clock)
    store(sqlite_db, [Post(f"kestrel problem number {i} with words {i * 7}", category=f"c{i}", urgency=0.4)
                      for i in range(30)])
    wired.route()
    clock.now = WINDOW_END
    assert wired.drain() == 2
    shown = slack.top_level("#care")
    assert [len(m["blocks"]) for m in shown] == [49, 13]
    assert all(block_problems(m["blocks"]) == [] for m in shown)


def test_a_crash_between_send_and_mark_does_not_send_twice(
    sqlite_db: Database, slack: SlackLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(START)
    settings = settings_for()
    store(sqlite_db, [Post(text, category="billing", urgency=0.4) for text in TEXTS])
    Wired(sqlite_db, settings, slack, clock).route()
    clock.now = WINDOW_END

    def crash(*_: object) -> None:
        raise KeyboardInterrupt("killed after Slack took the summary")

    monkeypatch.setattr(batches, "mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        Wired(sqlite_db, settings, slack, clock).drain()
    monkeypatch.undo()
    assert len(slack.all_messages()) == 1 and statuses(sqlite_db) == ["sending"] * 4
    clock.advance(seconds=10)  # past in_doubt_after_s: a fresh process settles what the dead one left
    restarted = Wired(sqlite_db, settings, slack, clock, in_doubt_after_s=5)
    assert restarted.drain() == 0
    assert len(slack.all_messages()) == 1 and statuses(sqlite_db) == ["sent"] * 4


def test_a_failed_summary_is_retried_under_the_same_key(sqlite_db: Database, slack: SlackLoopback) -> None:
    clock = Clock(START)
    wired = Wired(sqlite_db, settings_for(), slack, clock)
    store(sqlite_db, [Post(text, category="billing", urgency=0.4) for text in TEXTS[:2]])
    wired.route()
    clock.now = WINDOW_END
    slack.faults.append(Fault(status=500, method="chat.postMessage"))
    assert wired.drain() == 0 and statuses(sqlite_db) == ["batched"] * 2
    clock.advance(minutes=15)
    assert wired.drain() == 1 and statuses(sqlite_db) == ["sent"] * 2
    (message,) = slack.top_level("#care")
    assert message["metadata"]["event_payload"]["dedupe_key"] == batches.batch_key("everything", "#care",
                                                                                   WINDOW_END, 0)


def test_batched_lines_count_as_one_message_per_window() -> None:
    rows = [("r", "#c", WINDOW_END)] * 30 + [("r", "#c", WINDOW_END + timedelta(minutes=30))] * 3
    assert batches.summaries(rows) == 3
