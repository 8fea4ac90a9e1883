"""Render alerts as Slack Block Kit messages with every untrusted string escaped and cut to Slack's limits.

The escaping helpers live in `alerts.slack_text` and are importable from here too, as the other renderers do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from alerts.slack_menu import reclassify_menu
from alerts.slack_text import link, one_line, plain
from alerts.slack_text import mrkdwn_escape as mrkdwn_escape  # re-exported: renderers and tests import it here
from core.textsafe import cut

#: Slack caps a section's text at 3,000 characters; a post is shown at most this long once escaped.
POST_TEXT_LIMIT = 1500
COMPACT_TEXT_LIMIT = 500
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
LEVEL_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "normal": ":large_orange_circle:",
    "low": ":white_circle:",
}
ACTION_VERBS = {
    "claim": "Claimed",
    "not_relevant": "Marked not relevant",
    "reclassify": "Reclassified",
    "claim_refused": "Could not claim",
    "not_relevant_refused": "Could not mark not relevant",
    "reclassify_refused": "Could not reclassify",
}
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")
CASE_STATUS = {
    "open": ":hourglass_flowing_sand: needs a response",
    "replied": ":speech_balloon: replied, waiting for the customer",
    "resolved": ":white_check_mark: resolved",
}
RESOLVED_BY = {"customer": "the customer confirmed", "silence": "quiet after the brand's reply",
               "responder": "by a responder", "not_relevant": "marked not relevant"}
VIA = {"native": "in the network's app", "brandmon": "through brandmon"}
CASE_REPLY_LIMIT = 300


def slack_date(iso: str | None, fmt: str = "{date_short_pretty} {time}") -> str:
    """Render an ISO time as a Slack date token that each reader sees in their own time zone."""
    if not iso:
        return "unknown"
    try:
        stamp = int(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return one_line(iso, 40)
    return f"<!date^{stamp}^{fmt}|{one_line(iso, 40)}>"


def user_ref(user_id: str, name: str = "") -> str:
    """Mention a Slack user by id when it looks like one, else show the escaped name."""
    return f"<@{user_id}>" if _SLACK_USER.match(user_id) else one_line(name or user_id, 80)


def sentiment_mix(counts: Mapping[str, Any]) -> str:
    """Say how many posts were negative, neutral and positive."""
    return " · ".join(f"{int(counts.get(name) or 0)} {name}" for name in ("negative", "neutral", "positive"))


def reach_text(followers: Any) -> str:
    """Say how many followers an author has, or that it is unknown."""
    return f"{followers:,} followers" if isinstance(followers, int) else "reach unknown"


def acted_lines(acted: Sequence[Mapping[str, Any]]) -> list[str]:
    """Say who pressed which button, newest last, at most five lines."""
    lines = []
    for entry in list(acted)[-5:]:
        verb = ACTION_VERBS.get(str(entry.get("action")), one_line(str(entry.get("action")), 40))
        who = user_ref(str(entry.get("user_id") or ""), str(entry.get("by") or ""))
        note = f" ({one_line(str(entry['note']), 200)})" if entry.get("note") else ""
        lines.append(f":white_check_mark: {verb} by {who} {slack_date(entry.get('at'), '{time}')}{note}")
    return lines


def button_value(payload: Mapping[str, Any]) -> str:
    """Return what a button carries back: the message's outbox row, queue item, post and incident."""
    return json.dumps(
        {
            "o": payload.get("_outbox_id"),
            "q": payload.get("queue_item_id"),
            "m": payload.get("mention_id"),
            "i": payload.get("incident_id"),
        },
        separators=(",", ":"),
    )


def _button(action_id: str, text: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text[:75]},
        "value": value[:2000],
    }
    if style:
        button["style"] = style
    return button


def _url_button(action_id: str, text: str, url: str) -> dict[str, Any] | None:
    if not url.startswith("https://") or len(url) > 3000:
        return None
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "url": url}


def queue_link(payload: Mapping[str, Any]) -> str:
    """Return the web queue's URL for this item or incident, or "" when no queue URL is configured."""
    base = str(payload.get("queue_url") or "").rstrip("/")
    if not base:
        return ""
    if payload.get("type") == "incident" and payload.get("incident_id"):
        return f"{base}/queue?incident={int(payload['incident_id'])}"
    if payload.get("queue_item_id"):
        return f"{base}/queue/{int(payload['queue_item_id'])}"
    return f"{base}/queue"


def action_elements(payload: Mapping[str, Any], *, claim_label: str = "Claim") -> list[dict[str, Any]]:
    """Return the buttons: Claim, Not relevant, Reclassify (a menu, `alerts.slack_menu`), Open in queue, Open post."""
    value = button_value(payload)
    claimed = any(a.get("action") == "claim" for a in payload.get("acted") or [])
    elements: list[dict[str, Any]] = []
    if payload.get("queue_item_id") and not claimed:
        elements.append(_button("claim", claim_label, value, style="primary"))
    if payload.get("queue_item_id") or payload.get("incident_id"):
        elements.append(_button("not_relevant", "Not relevant", value))
    menu = reclassify_menu(payload, value) if payload.get("mention_id") and payload.get("type") != "incident" else None
    if menu is not None:
        elements.append(menu)
    for button in (
        _url_button("open_queue", "Open in queue", queue_link(payload)),
        _url_button("open_post", "Open post", str(payload.get("url") or "")),
    ):
        if button is not None and not (button["action_id"] == "open_post" and payload.get("type") == "incident"):
            elements.append(button)
    return elements


def _category(payload: Mapping[str, Any]) -> str:
    """Return the category an alert shows: a brand's own under its name (`category`), else the built-in one."""
    return str(payload.get("category") or payload.get("urgency_category") or "none").replace("_", " ")


def _headline(payload: Mapping[str, Any]) -> str:
    level = str(payload.get("urgency_level") or "low")
    category = _category(payload)
    brand = one_line(str(payload.get("brand") or ""), 80)
    network = one_line(str(payload.get("network") or ""), 20)
    return f"{LEVEL_EMOJI.get(level, '')} *{level.upper()}* {one_line(category, 30)} · {brand} on {network}"


def _quote(text: str, limit: int) -> str:
    """Quote untrusted text line by line in at most `limit` characters, quote marks included."""
    text = re.sub(r"\n{3,}", "\n\n", text.strip("\n"))
    budget = limit
    while True:
        quoted = "> " + plain(text, budget).replace("\n", "\n> ")
        if len(quoted) <= limit or budget <= 1:
            return quoted[:limit]
        budget = max(1, budget - (len(quoted) - limit))


def _drivers(payload: Mapping[str, Any]) -> list[str]:
    why = payload.get("explanation") or {}
    # "needs_reply" and "not_relevant" hold the model's decisions, not words of the post
    return sorted({str(w) for key, words in why.items() if key not in ("needs_reply", "not_relevant")
                   for w in words})[:8]


def alert_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for one post: full, or compact when it is a reply in an incident's thread."""
    if payload.get("compact"):
        return _compact_blocks(payload)
    level = str(payload.get("urgency_level") or "low")
    category = _category(payload)
    author = one_line(str(payload.get("author_name") or ""), 80)
    handle = one_line(str(payload.get("author_handle") or ""), 60)
    verified = " :ballot_box_with_check:" if payload.get("author_verified") else ""
    probs = payload.get("sentiment_probs") or {}
    sentiment = f"{payload.get('sentiment')} ({float(probs.get(payload.get('sentiment'), 0.0)):.0%})"
    fields = [
        f"*Sentiment*\n{one_line(sentiment, 60)}",
        f"*Complaint*\n{float(payload.get('complaint_prob') or 0):.0%} · "
        f"severity {int(payload.get('severity') or 0)}/4",
        f"*Urgency*\n{float(payload.get('urgency_score') or 0):.2f} ({one_line(category, 30)})",
        f"*Author*\n{author} @{handle}{verified} · {reach_text(payload.get('author_followers'))}",
    ]
    if payload.get("first_response_due"):
        fields.append(f"*First response due*\n{slack_date(payload['first_response_due'])}")
    if payload.get("needs_human"):
        fields.append(f"*Needs a human*\n{one_line(str(payload.get('needs_human_reason') or ''), 150)}")
    context = [
        f"model: {one_line(str(payload.get('model') or ''), 80)}",
        f"rule: {one_line(str(payload.get('rule') or ''), 60)}",
    ]
    if payload.get("url"):
        context.append(link(str(payload["url"]), "view post"))
    drivers = _drivers(payload)
    if drivers:
        context.append("why: " + ", ".join(one_line(w, 30) for w in drivers))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _headline(payload)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _quote(str(payload.get("text") or ""), POST_TEXT_LIMIT)},
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:FIELD_LIMIT]} for f in fields[:10]]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)[:SECTION_LIMIT]}]},
    ]
    blocks.extend(_acted_and_actions(payload))
    fallback = f"{level.upper()} {category}: {cut(' '.join(str(payload.get('text') or '').split()), 150)}"
    return plain(fallback, 300), blocks


def _compact_blocks(payload: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    handle = one_line(str(payload.get("author_handle") or ""), 60)
    level = str(payload.get("urgency_level") or "low")
    line = (
        f"{LEVEL_EMOJI.get(level, '')} *@{handle}* · {reach_text(payload.get('author_followers'))} · "
        f"{one_line(str(payload.get('sentiment') or ''), 20)} · urgency {float(payload.get('urgency_score') or 0):.2f}"
    )
    context = [one_line(str(payload.get("join_reason") or "joined the incident"), 200)]
    if payload.get("url"):
        context.append(link(str(payload["url"]), "view post"))
    if payload.get("first_response_due"):
        context.append(f"first response due {slack_date(payload['first_response_due'])}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": line}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _quote(str(payload.get("text") or ""), COMPACT_TEXT_LIMIT)},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)[:SECTION_LIMIT]}]},
    ]
    blocks.extend(_acted_and_actions(payload))
    return plain(f"@{payload.get('author_handle')}: {' '.join(str(payload.get('text') or '').split())}", 300), blocks


def case_blocks(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the case's summary: its status, how many posts, and the brand's latest reply (who, from where)."""
    case = payload.get("case")
    if not isinstance(case, Mapping):
        return []
    status = str(case.get("status") or "open")
    line = f"{CASE_STATUS.get(status, one_line(status, 20))}"
    if status == "resolved" and case.get("resolved_by"):
        line += f" ({RESOLVED_BY.get(str(case['resolved_by']), one_line(str(case['resolved_by']), 30))})"
    posts, replies = int(case.get("posts") or 0), int(case.get("brand_replies") or 0)
    line += (f" · case #{int(case.get('id') or 0)}: {posts} post{'' if posts == 1 else 's'} from "
             f"@{one_line(str(case.get('customer') or ''), 60)}, {replies} brand repl{'y' if replies == 1 else 'ies'}")
    blocks: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": line[:SECTION_LIMIT]}]}]
    last = case.get("last_brand")
    if isinstance(last, Mapping):
        via = VIA.get(str(last.get("via")), "")
        head = (f"*Last brand reply* by @{one_line(str(last.get('author') or ''), 60)} {via}, "
                f"{slack_date(last.get('at'))}")
        text = _quote(str(last.get("text") or ""), CASE_REPLY_LIMIT) if last.get("text") else ""
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": (head + ("\n" + text if text else ""))[:SECTION_LIMIT]}})
    return blocks


def _acted_and_actions(payload: Mapping[str, Any], *, claim_label: str = "Claim") -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = case_blocks(payload)
    lines = acted_lines(payload.get("acted") or [])
    if lines:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)[:SECTION_LIMIT]}]})
    elements = action_elements(payload, claim_label=claim_label)
    if elements:
        ident = payload.get("incident_id") or payload.get("queue_item_id") or payload.get("mention_id") or "x"
        blocks.append({"type": "actions", "block_id": f"brandmon-{ident}", "elements": elements[:25]})
    return blocks


def incident_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for an incident: count, reach, sentiment mix, why grouped, newest posts."""
    count = int(payload.get("count") or 0)
    level = str(payload.get("urgency_level") or "low")
    category = one_line(str(payload.get("urgency_category") or "none").replace("_", " "), 30)
    brand = one_line(str(payload.get("brand") or ""), 80)
    status = {"dismissed": " · _marked not relevant_", "closed": " · _closed_"}.get(str(payload.get("status")), "")
    headline = (
        f"{LEVEL_EMOJI.get(level, '')} *INCIDENT* {category} · {brand} — *{count} posts*, "
        f"reach {int(payload.get('reach') or 0):,} ({int(payload.get('authors') or 0)} authors){status}"
    )
    mix = payload.get("sentiments") or {}
    networks = payload.get("networks") or {}
    reasons = payload.get("reasons") or {}
    fields = [
        f"*Sentiment mix*\n{sentiment_mix(mix)}",
        "*Networks*\n" + one_line(", ".join(f"{n} {c}" for n, c in sorted(networks.items())), 200),
        f"*Most urgent*\n{float(payload.get('urgency_score') or 0):.2f} ({level})",
        f"*Since*\n{slack_date(payload.get('first_post_at'))}, "
        f"newest {slack_date(payload.get('last_post_at'), '{time}')}",
    ]
    if payload.get("first_response_due"):
        fields.append(f"*First response due*\n{slack_date(payload['first_response_due'])}")
    if reasons:
        fields.append(
            "*Grouped by*\n"
            + one_line(", ".join(f"{r} ×{n}" for r, n in sorted(reasons.items(), key=lambda kv: -int(kv[1]))[:4]), 300)
        )
    examples = []
    for example in list(payload.get("examples") or [])[:10]:
        head = (
            f"*@{one_line(str(example.get('author_handle') or ''), 60)}* "
            f"({reach_text(example.get('author_followers'))}, {one_line(str(example.get('sentiment') or ''), 20)})"
        )
        url = str(example.get("url") or "")
        tail = f" {link(url, 'view')}" if url else ""
        examples.append(f"{head}{tail}\n{_quote(str(example.get('text') or ''), 400)}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline[:SECTION_LIMIT]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:FIELD_LIMIT]} for f in fields[:10]]},
    ]
    if examples:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": ("*Newest posts*\n" + "\n".join(examples))[:SECTION_LIMIT]},
            }
        )
    context = [
        f"incident #{int(payload.get('incident_id') or 0)}",
        f"rule: {one_line(str(payload.get('rule') or ''), 60)}",
        "later posts are in the thread",
    ]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    blocks.extend(_acted_and_actions(payload, claim_label="Claim incident"))
    fallback = f"INCIDENT {payload.get('urgency_category')} · {payload.get('brand')}: {count} posts"
    return plain(fallback, 300), blocks
