"""A window's summary (`alerts.slack_batch`): each line shows what clicks did to it, within Slack's limits."""

from __future__ import annotations

from typing import Any

from alerts.slack_batch import batch_blocks
from alerts.slack_loopback import block_problems
from alerts.slack_render import slack_date

AT = "2026-11-19T08:03:00+00:00"


def item(i: int, acted: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a line's payload with every untrusted field at or past its cut."""
    return {"_outbox_id": 10_000_000_000 + i, "queue_item_id": 20_000_000_000 + i, "mention_id": 30_000_000_000 + i,
            "urgency_level": "normal", "network": "x", "author_name": "<b>" * 60, "author_handle": "&" * 80,
            "text": "<!channel> & " * 400, "url": "https://x.com/a/status/" + "9" * 2900, "acted": acted}


def test_every_line_keeps_its_state_within_slacks_limits_however_long_the_post() -> None:
    hostile = "<!here>\u202e" + "x" * 300
    acted = [{"action": "claim", "user_id": "U7AMIRA", "by": "amira", "at": AT},
             {"action": "claim_refused", "user_id": "", "by": hostile, "at": AT, "note": hostile},
             {"action": "reclassify", "user_id": "U7AMIRA", "by": "amira", "at": AT,
              "option": "urgency_category=billing", "note": "urgency_category: billing"},
             {"action": "reclassify", "user_id": "U7AMIRA", "by": "amira", "at": AT, "option": "complaint=no"}]
    _, blocks = batch_blocks({"rule": "everything", "window_end": AT, "items": [item(i, acted) for i in range(24)]})
    assert block_problems(blocks) == [] and len(blocks) == 49
    lines = [b["text"]["text"] for b in blocks if b["type"] == "section"][1:]
    assert len(lines) == 24
    for line in lines:
        state = line.rsplit("\n", 1)[1]
        assert state.startswith(":white_check_mark: ") and state.count(" · ") == 2  # the newest three clicks
        assert "could not claim by \u2068&lt;!here&gt;" in state
        assert "reclassified to \u2068billing\u2069 by <@U7AMIRA>" in state
        assert "reclassified to not a complaint by <@U7AMIRA>" in state
        assert "<!here>" not in line and "<!channel>" not in line and "\u202e" not in line


def test_a_refused_click_says_why_and_a_line_nobody_touched_has_no_state() -> None:
    refused = [{"action": "claim_refused", "user_id": "U2XYZ", "by": "u2", "at": AT,
                "note": "item 7 is claimed by slack:U1ABC until 08:33"}]
    _, blocks = batch_blocks({"rule": "r", "window_end": AT, "items": [
        {"_outbox_id": 1, "queue_item_id": 7, "text": "a", "acted": refused},
        {"_outbox_id": 2, "queue_item_id": 8, "text": "b"}]})
    first, second = (b["text"]["text"] for b in blocks if b["type"] == "section" and "\n" in b["text"]["text"])
    assert first.endswith(f"could not claim by <@U2XYZ> {slack_date(AT, '{time}')} "
                          "(item 7 is claimed by slack:U1ABC until 08:33)")
    assert ":white_check_mark:" not in second
