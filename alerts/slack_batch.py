"""Render a batched route's window summary: one line per post with its author, excerpt, link and buttons."""

from __future__ import annotations

from typing import Any

from alerts.slack_render import LEVEL_EMOJI, SECTION_LIMIT, action_elements, link, one_line, slack_date

#: Each line's excerpt at most this long once escaped.
EXCERPT_LIMIT = 280
#: First Strong Isolate and Pop Directional Isolate: an author's right-to-left name cannot reorder the line.
_FSI, _PDI = "\u2068", "\u2069"


def _isolated(text: str, limit: int) -> str:
    return f"{_FSI}{one_line(text, limit)}{_PDI}"


def _line(item: dict[str, Any]) -> str:
    level = str(item.get("urgency_level") or "low")
    author = _isolated(str(item.get("author_name") or ""), 80)
    handle = _isolated(str(item.get("author_handle") or ""), 60)
    network = one_line(str(item.get("network") or ""), 20)
    head = f"{LEVEL_EMOJI.get(level, '')} *{author}* @{handle} on {network}"
    if item.get("url"):
        head += f" · {link(str(item['url']), 'view post')}"
    return f"{head}\n{_isolated(str(item.get('text') or ''), EXCERPT_LIMIT)}"[:SECTION_LIMIT]


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
