"""Block Kit rendering: hostile posts render as text, long text is cut within Slack's limits, buttons carry ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alerts.slack import RENDERERS, render
from alerts.slack_loopback import block_problems, message_as_text
from alerts.slack_render import alert_blocks, incident_blocks, link, mrkdwn_escape, plain

HOSTILE = (
    "<!channel> urgent: refund at <https://evil.example|Kestrel refund portal> & <@U024BE7LH> "
    "<!subteam^S123|@care> @here ‮troppuS"
)


def payload(**overrides: Any) -> dict[str, Any]:
    base = {
        "type": "alert",
        "mention_id": 7,
        "rule": "urgent",
        "brand": "Kestrel Mobile",
        "network": "x",
        "url": "https://x.com/a/status/1",
        "author_handle": "kstrl_refunds",
        "author_name": "Kestrel \u202etroppuS",
        "author_followers": 14,
        "author_verified": False,
        "text": HOSTILE,
        "created_at": "2026-11-19T08:00:00+00:00",
        "sentiment": "negative",
        "sentiment_probs": {"negative": 0.8},
        "complaint": True,
        "complaint_prob": 0.7,
        "severity": 3,
        "urgency_score": 0.81,
        "urgency_level": "critical",
        "urgency_category": "billing",
        "needs_human": False,
        "explanation": {"urgency": ["refund"], "complaint": ["<b>"]},
        "model": "m",
        "queue_item_id": 3,
        "first_response_due": "2026-11-19T08:15:00+00:00",
        "incident_id": 5,
        "_outbox_id": 11,
    }
    base.update(overrides)
    return base


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_escape_turns_every_slack_control_sequence_into_text() -> None:
    assert mrkdwn_escape("a & <b> <!here>") == "a &amp; &lt;b&gt; &lt;!here&gt;"
    assert "&lt;!channel&gt;" in plain(HOSTILE, 500) and "<!channel>" not in plain(HOSTILE, 500)
    assert "@\u2060here" in plain("@here", 50)  # typed broadcast words cannot ping either
    assert "\u202e" not in plain("Kestrel \u202etroppuS", 50)  # a reversed name cannot pose as another


def test_a_hostile_post_cannot_ping_a_channel_or_forge_a_link() -> None:
    text, blocks = alert_blocks(payload())
    rendered = all_text(blocks) + text
    for forged in ("<!channel>", "<https://evil.example|", "<@U024BE7LH>", "<!subteam", "\u202e"):
        assert forged not in rendered
    # the only links are the ones brandmon made, and a Slack client shows the post as it was typed
    shown = message_as_text({"blocks": blocks})
    assert "<!channel> urgent: refund at <https://evil.example|Kestrel refund portal> & <@U024BE7LH>" in shown
    assert "view post (https://x.com/a/status/1)" in shown


def test_links_cannot_break_out() -> None:
    assert link("https://ok.example/a|b>c", "label|x>") == "<https://ok.example/a%7Cb%3Ec|label/x&gt;>"
    assert link("javascript:alert(1)", "click") == "click"


@pytest.mark.parametrize(
    "body",
    ["<" * 5000, "&" * 4000 + " word" * 500, "🏳️‍🌈" * 2000, "x\n" * 3000],
    ids=["angles", "ampersands", "emoji-sequences", "newlines"],
)
def test_long_text_is_cut_within_slack_limits(body: str) -> None:
    for render_payload in (payload(text=body), payload(text=body, compact=True)):
        text, blocks = alert_blocks(render_payload)
        assert not block_problems(blocks)
        quoted = blocks[1]["text"]["text"]
        assert quoted.endswith("…") and "&am…" not in quoted and not quoted.endswith("&…")
        assert len(text) <= 300
    assert len(plain("<" * 5000, 1500)) <= 1500


def test_buttons_carry_the_message_item_post_and_incident() -> None:
    _, blocks = alert_blocks(payload(queue_url="https://brandmon.example"))
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    ids = [e["action_id"] for e in actions]
    assert ids == ["claim", "not_relevant", "reclassify", "open_queue", "open_post"]
    assert json.loads(actions[0]["value"]) == {"o": 11, "q": 3, "m": 7, "i": 5}
    assert actions[3]["url"] == "https://brandmon.example/queue/3"
    acted = payload(acted=[{"action": "claim", "user_id": "U1ABC", "by": "sam", "at": "2026-11-19T08:05:00+00:00"}])
    _, blocks = alert_blocks(acted)
    assert "Claimed by <@U1ABC>" in all_text(blocks)
    assert "claim" not in [e["action_id"] for e in next(b for b in blocks if b["type"] == "actions")["elements"]]


def test_incident_message_shows_count_reach_mix_and_newest_examples() -> None:
    incident = {
        "type": "incident",
        "incident_id": 5,
        "rule": "urgent",
        "brand": "Kestrel <Mobile>",
        "count": 120,
        "reach": 2_500_000,
        "authors": 97,
        "sentiments": {"negative": 100, "neutral": 15, "positive": 5},
        "networks": {"x": 110, "reddit": 10},
        "reasons": {"same link": 40, "same text": 30},
        "urgency_score": 0.9,
        "urgency_level": "critical",
        "urgency_category": "outage",
        "first_post_at": "2026-11-19T07:42:00+00:00",
        "last_post_at": "2026-11-19T09:20:00+00:00",
        "queue_item_id": 3,
        "mention_id": 7,
        "_outbox_id": 11,
        "examples": [
            {
                "author_handle": "a",
                "author_followers": 10,
                "text": HOSTILE,
                "url": "https://x.com/a/1",
                "sentiment": "negative",
            }
        ]
        * 3,
    }
    text, blocks = render(incident)
    assert not block_problems(blocks)
    shown = message_as_text({"blocks": blocks})
    assert "*120 posts*, reach 2,500,000 (97 authors)" in shown and "100 negative · 15 neutral · 5 positive" in shown
    assert "Kestrel <Mobile>" in shown and "same link ×40" in shown
    assert "<!channel>" not in all_text(blocks) and text.startswith("INCIDENT outage")


def test_every_payload_type_has_a_renderer() -> None:
    assert {"alert", "incident", "spike", "digest"} <= set(RENDERERS)
    assert RENDERERS["digest"] == "alerts.slack_digest:summary_blocks"
    assert incident_blocks is not None


def test_a_case_message_shows_its_count_status_and_the_brands_latest_reply_escaped() -> None:
    case = {"id": 17, "status": "replied", "customer": "sam", "posts": 3, "brand_replies": 2, "resolved_by": None,
            "opened_at": "2026-11-19T08:00:00+00:00", "first_response_at": "2026-11-19T08:04:00+00:00",
            "last_brand": {"author": "KestrelMobile", "via": "native", "at": "2026-11-19T08:30:00+00:00",
                           "text": HOSTILE}}
    for render_payload in (payload(case=case), payload(case=case, compact=True)):
        _, blocks = alert_blocks(render_payload)
        assert not block_problems(blocks)
        shown = message_as_text({"blocks": blocks})
        assert "replied, waiting for the customer · case #17: 3 posts from @sam, 2 brand replies" in shown
        assert "*Last brand reply* by @KestrelMobile in the network's app" in shown
        for forged in ("<!channel>", "<https://evil.example|", "<@U024BE7LH>", "\u202e"):
            assert forged not in all_text(blocks)
    done = {**case, "status": "resolved", "resolved_by": "customer", "last_brand": None}
    shown = message_as_text({"blocks": alert_blocks(payload(case=done))[1]})
    assert "resolved (the customer confirmed)" in shown and "Last brand reply" not in shown
