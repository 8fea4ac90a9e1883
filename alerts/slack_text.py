"""Make untrusted text safe in Slack: escaped for mrkdwn, controls replaced, cut within Slack's limits.

`plain_label` is for `plain_text` objects (option and group labels), which Slack shows as typed: no entity
escaping there, but bidi controls are replaced and the text is wrapped in an isolate, so a name written right to
left cannot reorder what follows it.
"""

from __future__ import annotations

import re

from core.textsafe import cut

#: Bidirectional controls reorder what a reader sees (a name can pose as another); other controls are noise.
_UNSAFE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Slack only pings from <!channel>-style tokens (escaped below); typed words get a joiner too, belt and braces.
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def mrkdwn_escape(text: str) -> str:
    """Escape &, < and > so Slack shows the text as typed: no mentions, no links, no broadcasts."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean(text: str) -> str:
    """Replace bidi overrides and control characters (keeping newlines and tabs) with U+FFFD."""
    return _UNSAFE.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


def plain(text: str, limit: int) -> str:
    """Clean, cut and escape untrusted text so the escaped result is at most `limit` characters."""
    source = _BROADCAST.sub("@\u2060\\1", clean(text))
    budget = limit
    while True:
        escaped = mrkdwn_escape(cut(source, budget))
        if len(escaped) <= limit or budget <= 1:
            return escaped[:limit] if len(escaped) > limit else escaped
        # every escape grows one character into at most five; shrink by the overshoot and try again
        budget = max(1, budget - (len(escaped) - limit))


def one_line(text: str, limit: int) -> str:
    """Return untrusted text on one line, cleaned, cut and escaped."""
    return plain(" ".join(text.split()), limit)


def link(url: str, label: str) -> str:
    """Return a mrkdwn link whose label is escaped and whose URL cannot break out of the link."""
    if not url.startswith(("https://", "http://")):
        return one_line(label, 200)
    safe_url = (
        url.replace("&", "%26")
        .replace("<", "%3C")
        .replace(">", "%3E")
        .replace("|", "%7C")
        .replace(" ", "%20")
        .replace("\n", "%0A")
    )[:2000]
    return f"<{safe_url}|{one_line(label.replace('|', '/'), 200)}>"


#: First Strong Isolate and Pop Directional Isolate: what is between them keeps its direction to itself.
FSI, PDI = "\u2068", "\u2069"


def plain_label(text: str, limit: int) -> str:
    """Return untrusted text for a `plain_text` label: one line, cleaned, isolated, at most `limit` characters."""
    return f"{FSI}{cut(clean(' '.join(text.split())), max(1, limit - 2))}{PDI}"
