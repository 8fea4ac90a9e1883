"""Render a post flagged as a scam or an impostor's (README, "Scams and impostors"): why, and what to do.

The message goes to `slack.security_channel` (or, while that is unset, to the brand's first route's channel,
marked as such). Every untrusted string (the impostor's name, handle and text, the reasons naming them) is
escaped and its bidi controls replaced, as in every alert (`alerts.slack_render`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.slack_render import (
    COMPACT_TEXT_LIMIT,
    SECTION_LIMIT,
    _quote,
    _url_button,
    link,
    one_line,
    plain,
    reach_text,
)

#: The line every security alert carries: the team must not answer an impostor.
DO_NOT_ENGAGE = "Do not engage — report the account."


def security_blocks(payload: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for a post flagged as a scam or an impostor's: why, and what to do."""
    scam = payload.get("scam") or {}
    brand = one_line(str(payload.get("brand") or ""), 80)
    network = one_line(str(payload.get("network") or ""), 20)
    handle = one_line(str(payload.get("author_handle") or ""), 60)
    author = one_line(str(payload.get("author_name") or ""), 80)
    where = "" if scam.get("security_channel") else " (no `security_channel` is set, so it came to this channel)"
    headline = f":warning: *SUSPECTED IMPERSONATION* of {brand} on {network}{where}"
    reasons = "\n".join(f"• {one_line(str(r), 300)}" for r in list(scam.get("reasons") or [])[:8])
    who = f"*Posted by* {author} @{handle} · {reach_text(payload.get('author_followers'))}"
    engage = (f":no_entry: *{DO_NOT_ENGAGE}* Do not reply to it, like or share it; report "
              f"@{handle} to {network} as impersonation, and warn customers from the brand's own account if "
              "many saw it.")
    context = [f"rule: {one_line(str(payload.get('rule') or ''), 60)}", "no queue item: nobody answers or thanks it"]
    if payload.get("url"):
        context.append(link(str(payload["url"]), "view post"))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline[:SECTION_LIMIT]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": who[:SECTION_LIMIT]}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": _quote(str(payload.get("text") or ""), COMPACT_TEXT_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": ("*Why it was flagged*\n" + reasons)[:SECTION_LIMIT]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": engage[:SECTION_LIMIT]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)[:SECTION_LIMIT]}]},
    ]
    button = _url_button("open_post", "Open post to report it", str(payload.get("url") or ""))
    if button is not None:
        blocks.append({"type": "actions", "block_id": f"brandmon-security-{payload.get('mention_id') or 'x'}",
                       "elements": [button]})
    fallback = f"Suspected impersonation of {payload.get('brand')} by @{payload.get('author_handle')}: " \
               "do not engage, report the account"
    return plain(fallback, 300), blocks
