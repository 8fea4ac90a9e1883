"""Render a batched route's window summary: one line per post with its author, excerpt, link and buttons."""

from __future__ import annotations

from typing import Any

from alerts.slack_render import (
    LEVEL_EMOJI,
    SECTION_LIMIT,
    action_elements,
    link,
    one_line,
    slack_date,
    user_ref,
)

#: Each line's excerpt at most this long once escaped.
EXCERPT_LIMIT = 280
#: First Strong Isolate and Pop Directional Isolate: an author's right-to-left name cannot reorder the line.
_FSI, _PDI = "\u2068", "\u2069"


def _isolated(text: str, limit: int) -> str:
    return f"{_FSI}{one_line(text, limit)}{_PDI}"


#: A line shows at most this many of the clicks on it, newest last.
STATE_ENTRIES = 3
_DONE = {"claim": "claimed", "not_relevant": "marked not relevant"}
_REFUSED = {"claim_refused": "could not claim", "not_relevant_refused": "could not mark not relevant",
            "reclassify_refused": "could not reclassify"}


def _reclassified(option: str) -> str:
    field, _, value = option.partition("=")
    if field == "complaint":
        return "a complaint" if value == "yes" else "not a complaint"
    shown = _isolated(value, 40)
    return f"{shown} sentiment" if field == "sentiment" else shown


def _state(entry: dict[str, Any]) -> str:
    """Say what one click did to its line: "claimed by amira", "reclassified to billing by amira"."""
    user_id, name = str(entry.get("user_id") or ""), str(entry.get("by") or "")
    who = user_ref(user_id, name)
    if not who.startswith("<@"):  # a name, not a Slack id: isolated as the line's author is
        who = _isolated(name or user_id, 80)
    action = str(entry.get("action") or "")
    if action == "reclassify" and entry.get("option"):
        done = f"reclassified to {_reclassified(str(entry['option']))}"
    elif action in _DONE:
        done = _DONE[action]
    else:
        done = _REFUSED.get(action) or one_line(action.replace("_", " "), 40)
    note = f" ({one_line(str(entry['note']), 120)})" if entry.get("note") and action in _REFUSED else ""
    return f"{done} by {who} {slack_date(entry.get('at'), '{time}')}{note}"


def _line(item: dict[str, Any]) -> str:
    level = str(item.get("urgency_level") or "low")
    author = _isolated(str(item.get("author_name") or ""), 80)
    handle = _isolated(str(item.get("author_handle") or ""), 60)
    network = one_line(str(item.get("network") or ""), 20)
    head = f"{LEVEL_EMOJI.get(level, '')} *{author}* @{handle} on {network}"
    if item.get("url"):
        head += f" · {link(str(item['url']), 'view post')}"
    body = f"{head}\n{_isolated(str(item.get('text') or ''), EXCERPT_LIMIT)}"
    acted = [entry for entry in item.get("acted") or [] if isinstance(entry, dict)][-STATE_ENTRIES:]
    if not acted:
        return body[:SECTION_LIMIT]
    state = ":white_check_mark: " + " · ".join(_state(entry) for entry in acted)
    return f"{body[:SECTION_LIMIT - len(state) - 1]}\n{state}"  # the state is never the part that is cut


def batch_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for one window's summary of a route: a header, then a line per post."""
    items = [dict(item) for item in payload.get("items") or []]
    rule = one_line(str(payload.get("rule") or ""), 60)
    count = len(items)
    headline = (f":inbox_tray: *{count} post{'' if count == 1 else 's'}* for rule {rule} · window ending "
                f"{slack_date(payload.get('window_end') or None)}")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline[:SECTION_LIMIT]}}]
    for item in items:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _line(item)}})
        elements = action_elements(item)
        if elements:  # block ids are unique within a message: each line's own outbox row names its actions
            blocks.append({"type": "actions", "block_id": f"brandmon-line-{int(item.get('_outbox_id') or 0)}",
                           "elements": elements[:25]})
    return one_line(f"{count} posts for rule {payload.get('rule') or ''}", 300), blocks[:50]
