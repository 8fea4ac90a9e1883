"""Batched routes (`batch_every_min`): one summary per route, channel and window; urgent routes send at once.

A click on a line edits that summary; `brandmon alerts retry` sends a dead summary again as one summary.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from alerts.slack_loopback import Fault, SlackLoopback, block_problems, message_as_text
from core.settings import Settings
from core.storage import Database
from core.storage.schema import OutboxRow
from monitor.cli import main
from monitor.pipeline import batches
from monitor.web.slack_actions import ActionHandler
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


def drain_killed_before_marking(wired: Wired, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drain in a process that dies after Slack took a summary (or its edit), before the lines are marked."""
    def crash(*_: object) -> None:
        raise KeyboardInterrupt("killed after Slack took the summary")

    monkeypatch.setattr(batches, "mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        wired.drain()
    monkeypatch.undo()


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
    drain_killed_before_marking(Wired(sqlite_db, settings, slack, clock), monkeypatch)
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


def _line_click(message: dict[str, Any], line: int, action_id: str, *, user: dict[str, str],
                option: str | None = None) -> dict[str, Any]:
    """Build the block_actions payload Slack sends when a control on line `line` of a summary is used."""
    block = [b for b in message["blocks"] if b["type"] == "actions"][line]
    element = next(e for e in block["elements"] if e["action_id"] == action_id)
    action: dict[str, Any] = {"action_id": action_id, "block_id": block["block_id"], "type": element["type"]}
    if option is not None:
        listed = [o for group in element["option_groups"] for o in group["options"]]
        action["selected_option"] = next(o for o in listed if o["value"].startswith(option + "|"))
    else:
        action["value"] = element["value"]
    return {"type": "block_actions", "user": user, "channel": {"id": message["channel"]},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
            "actions": [action]}


def _lines_of(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"][1:]


def test_a_click_on_a_line_edits_its_summary_and_only_that_line_changes(
    db: Database, slack: SlackLoopback
) -> None:
    clock = Clock(START)
    settings = settings_for()
    wired = Wired(db, settings, slack, clock)
    store(db, [Post(text, at=START, category="outage", urgency=0.4, handle=f"author{i}")
                      for i, text in enumerate(TEXTS[:3])])
    wired.route()
    clock.now = WINDOW_END
    assert wired.drain() == 1
    (before,) = slack.top_level("#care")
    before = copy.deepcopy(before)
    handler = ActionHandler(db, settings.slack, clock=clock)
    clock.advance(minutes=3)
    amira = {"id": "U7AMIRA", "username": "amira"}
    (result,) = handler.handle_payload(_line_click(before, 1, "claim", user=amira))
    assert result.ok
    assert statuses(db) == ["batched"] * 3  # the whole summary is due again, as one edit
    assert wired.drain() == 1
    (after,) = slack.top_level("#care")
    assert after["ts"] == before["ts"] and after.get("edited") and len(slack.all_messages()) == 1
    (update,) = [args for method, args in slack.calls if method == "chat.update"]
    assert update["channel"] == before["channel"] and update["ts"] == before["ts"]
    assert block_problems(after["blocks"]) == []
    old, new = _lines_of(before), _lines_of(after)
    assert new[0] == old[0] and new[2] == old[2]
    assert new[1].startswith(old[1]) and "claimed by <@U7AMIRA>" in new[1]
    assert "claimed by @U7AMIRA" in message_as_text(after)
    claims = [{e["action_id"] for e in b["elements"]} for b in after["blocks"] if b["type"] == "actions"]
    assert "claim" not in claims[1] and "claim" in claims[0] and "claim" in claims[2]
    assert statuses(db) == ["sent"] * 3
    assert wired.drain() == 0  # nothing left to edit

    # a reclassification by someone with a hostile display name: shown on its line, escaped and isolated
    (result,) = handler.handle_payload(_line_click(
        after, 2, "reclassify", user={"id": "not-an-id", "username": "<!channel>\u202eamira"},
        option="urgency_category=billing"))
    assert result.ok
    assert wired.drain() == 1 and len(slack.all_messages()) == 1
    (edited,) = slack.top_level("#care")
    lines = _lines_of(edited)
    assert lines[:2] == new[:2] and block_problems(edited["blocks"]) == []
    assert "reclassified to \u2068billing\u2069 by \u2068&lt;!channel&gt;" in lines[2]
    assert "<!channel>" not in lines[2] and "\u202e" not in lines[2]
    assert len([m for m, _ in slack.calls if m == "chat.update"]) == 2


def test_a_click_while_the_summary_edit_is_on_the_wire_is_sent_after_it(
    sqlite_db: Database, slack: SlackLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(START)
    settings = settings_for()
    wired = Wired(sqlite_db, settings, slack, clock)
    store(sqlite_db, [Post(text, at=START, category="outage", urgency=0.4) for text in TEXTS[:2]])
    wired.route()
    clock.now = WINDOW_END
    assert wired.drain() == 1
    (message,) = slack.top_level("#care")
    handler = ActionHandler(sqlite_db, settings.slack, clock=clock)
    handler.handle_payload(_line_click(message, 0, "claim", user={"id": "U1ABC", "username": "u1"}))
    send = wired.notifier.send

    def click_during_send(delivery: Any) -> dict[str, Any]:  # the second click lands while the edit is in flight
        monkeypatch.setattr(wired.notifier, "send", send)
        handler.handle_payload(_line_click(message, 1, "claim", user={"id": "U2XYZ", "username": "u2"}))
        return send(delivery)

    monkeypatch.setattr(wired.notifier, "send", click_during_send)
    assert wired.drain() == 2  # the edit, then the edit that shows the second click
    lines = _lines_of(slack.top_level("#care")[0])
    assert "claimed by <@U1ABC>" in lines[0] and "claimed by <@U2XYZ>" in lines[1]
    assert statuses(sqlite_db) == ["sent"] * 2 and len(slack.all_messages()) == 1


def test_a_crash_after_the_summary_edit_does_not_edit_twice(
    sqlite_db: Database, slack: SlackLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(START)
    settings = settings_for()
    store(sqlite_db, [Post(text, at=START, category="billing", urgency=0.4) for text in TEXTS[:2]])
    Wired(sqlite_db, settings, slack, clock).route()
    clock.now = WINDOW_END
    assert Wired(sqlite_db, settings, slack, clock).drain() == 1
    (message,) = slack.top_level("#care")
    ActionHandler(sqlite_db, settings.slack, clock=clock).handle_payload(
        _line_click(message, 0, "claim", user={"id": "U1ABC", "username": "u1"}))
    drain_killed_before_marking(Wired(sqlite_db, settings, slack, clock), monkeypatch)
    assert statuses(sqlite_db) == ["sending"] * 2
    clock.advance(seconds=10)  # a fresh process finds the edit's revision on the message and settles the lines
    assert Wired(sqlite_db, settings, slack, clock, in_doubt_after_s=5).drain() == 0
    assert statuses(sqlite_db) == ["sent"] * 2
    assert len([m for m, _ in slack.calls if m == "chat.update"]) == 1
    assert "claimed by <@U1ABC>" in _lines_of(slack.top_level("#care")[0])[0]


def test_alerts_retry_sends_a_dead_summary_again_as_one_summary(
    sqlite_db: Database, slack: SlackLoopback, tmp_path: Path
) -> None:
    clock = Clock(START)
    wired = Wired(sqlite_db, settings_for(), slack, clock)
    store(sqlite_db, [Post(text, category="billing", urgency=0.4) for text in TEXTS])
    wired.route()
    clock.now = WINDOW_END
    slack.faults.append(Fault(200, {"ok": False, "error": "invalid_blocks"}, method="chat.postMessage"))
    assert wired.drain() == 0 and statuses(sqlite_db) == ["dead"] * 4
    config = tmp_path / "brandmon.yaml"
    config.write_text(f"database_url: {sqlite_db.url}\nbrands:\n  - {{name: Kestrel Mobile, query: kestrel}}\n"
                      f"slack:\n  base_url: {slack.base_url}\n", encoding="utf-8")
    retried = CliRunner().invoke(main, ["alerts", "retry", "-c", str(config)])
    assert retried.exit_code == 0 and "1 Slack messages queued again" in retried.output, retried.output
    assert statuses(sqlite_db) == ["batched"] * 4
    clock.now = datetime.now(UTC) + timedelta(minutes=1)  # retry queues them for the real now
    assert wired.drain() == 1
    (message,) = slack.top_level("#care")
    assert len(_lines_of(message)) == 4 and len(slack.all_messages()) == 1
    assert message["metadata"]["event_payload"]["dedupe_key"] == batches.batch_key("everything", "#care",
                                                                                   WINDOW_END, 0)
    assert statuses(sqlite_db) == ["sent"] * 4
