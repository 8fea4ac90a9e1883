"""Decode the HTML entities networks put in post text, once, at ingest.

X escapes `&`, `<` and `>` in post text (`&amp;`, `&lt;`, `&gt;`), and so do exports of it (the Customer Support on
Twitter CSV, a JSON Lines replay of X posts). Reddit is not decoded: prawcore asks for `raw_json=1`, so its bodies
arrive as typed. Mastodon sends HTML, turned into text (tags dropped, every entity decoded) by its source; Bluesky
sends plain text. Only these escapes (and the quote forms) are decoded, in a single pass, so `&amp;lt;` (a user who
typed `&lt;`) becomes `&lt;` and text such as "AT&T &copy" is left alone, unlike `html.unescape`.
"""

from __future__ import annotations

import re

_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "#39": "'", "#x27": "'", "#X27": "'"}
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#39|#x27|#X27);")


#: Networks whose post text arrives HTML-escaped (a replay file records what the network sent, so the same holds there).
ESCAPING_NETWORKS = frozenset({"x", "twitter"})


def decode_entities(text: str) -> str:
    """Return `text` with the network's HTML escapes decoded exactly once."""
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)
