"""Render alerts as Slack Block Kit messages with every untrusted string escaped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.textsafe import cut

#: Slack caps a section's text at 3,000 characters; a post is shown at most this long.
POST_TEXT_LIMIT = 1500
LEVEL_EMOJI = {"critical": ":rotating_light:", "high": ":red_circle:", "normal": ":large_orange_circle:",
               "low": ":white_circle:"}


def mrkdwn_escape(text: str) -> str:
    """Escape &, < and > so Slack shows the text as typed: no mentions, no links, no broadcasts."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int) -> str:
    """Cut untrusted text to `limit` characters, then escape it (never cut inside an escape)."""
    return mrkdwn_escape(cut(text.replace("\r", " "), limit))


def link(url: str, label: str) -> str:
    """Return a mrkdwn link whose label is escaped and whose URL cannot break out of the link."""
    if not url.startswith(("https://", "http://")):
        return plain(label, 200)
    safe_url = url.replace("&", "%26").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
    return f"<{safe_url}|{mrkdwn_escape(label.replace('|', '/'))}>"


def alert_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for one alert payload built by the router."""
    level = str(payload.get("urgency_level") or "low")
    author = plain(str(payload.get("author_name") or ""), 80)
    handle = plain(str(payload.get("author_handle") or ""), 60)
    followers = payload.get("author_followers")
    reach = f"{followers:,} followers" if isinstance(followers, int) else "reach unknown"
    verified = " :ballot_box_with_check:" if payload.get("author_verified") else ""
    brand = plain(str(payload.get("brand") or ""), 80)
    network = plain(str(payload.get("network") or ""), 20)
    category = str(payload.get("urgency_category") or "none").replace("_", " ")
    headline = f"{LEVEL_EMOJI.get(level, '')} *{level.upper()}* {category} · {brand} on {network}"
    probs = payload.get("sentiment_probs") or {}
    sentiment = f"{payload.get('sentiment')} ({float(probs.get(payload.get('sentiment'), 0.0)):.0%})"
    why = payload.get("explanation") or {}
    drivers = sorted({w for words in why.values() for w in words})[:8]
    fields = [
        f"*Sentiment*\n{plain(sentiment, 60)}",
        f"*Complaint*\n{float(payload.get('complaint_prob') or 0):.0%} · severity {payload.get('severity', 0)}/4",
        f"*Urgency*\n{float(payload.get('urgency_score') or 0):.2f} ({plain(category, 30)})",
        f"*Author*\n{author} @{handle}{verified} · {reach}",
    ]
    due = payload.get("first_response_due")
    if due:
        fields.append(f"*First response due*\n<!date^{int(datetime.fromisoformat(due).timestamp())}"
                      f"^{{date_short_pretty}} {{time}}|{plain(due, 40)}>")
    if payload.get("needs_human"):
        fields.append(f"*Needs a human*\n{plain(str(payload.get('needs_human_reason') or ''), 150)}")
    context = [f"model: {plain(str(payload.get('model') or ''), 80)}", f"rule: {plain(str(payload.get('rule') or ''), 60)}"]
    if str(payload.get("url") or ""):
        context.append(link(str(payload["url"]), "view post"))
    if drivers:
        context.append("why: " + ", ".join(plain(w, 30) for w in drivers))
    item_id = payload.get("queue_item_id")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "> " + plain(str(payload.get("text") or ""), POST_TEXT_LIMIT).replace("\n", "\n> ")}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    actions = [
        {"type": "button", "action_id": "claim", "text": {"type": "plain_text", "text": "Claim"},
         "style": "primary", "value": str(item_id or "")},
        {"type": "button", "action_id": "not_relevant", "text": {"type": "plain_text", "text": "Not relevant"},
         "value": str(item_id or "")},
        {"type": "button", "action_id": "reclassify", "text": {"type": "plain_text", "text": "Reclassify"},
         "value": str(payload.get("mention_id") or "")},
    ]
    url = str(payload.get("url") or "")
    if url.startswith("https://"):
        actions.append({"type": "button", "action_id": "open_post", "text": {"type": "plain_text", "text": "Open post"},
                        "url": url[:3000]})
    if item_id:
        blocks.append({"type": "actions", "block_id": f"queue-item-{item_id}", "elements": actions})
    fallback = f"{level.upper()} {category}: {cut(str(payload.get('text') or ''), 150)}"
    return mrkdwn_escape(fallback), blocks
