"""Make untrusted text safe to show: in a terminal, and cut to a length without breaking it."""

from __future__ import annotations

import unicodedata

#: Bidirectional controls can make text read in a different order than it is stored (Trojan Source).
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def for_terminal(text: str, *, keep_newlines: bool = False) -> str:
    """Replace control, escape and bidi-override characters so text cannot drive the terminal."""
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in _BIDI_CONTROLS:
            out.append(f"<U+{ord(ch):04X}>")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") or ch == "\x7f":
            out.append(" " if ch in "\t\r\n" else "\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def cut(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut `text` to at most `limit` characters, on a word boundary when one is near, never mid-grapheme."""
    if len(text) <= limit:
        return text
    budget = max(0, limit - len(ellipsis))
    head = text[:budget]
    # do not leave a combining mark or a variation selector without its base character
    while (head and unicodedata.combining(head[-1])) or head.endswith(("\u200d", "\ufe0f")):
        head = head[:-1]
    if head and "\ud800" <= head[-1] <= "\udbff":
        head = head[:-1]
    space = head.rfind(" ")
    if space >= budget * 0.8:
        head = head[:space]
    return head.rstrip() + ellipsis
