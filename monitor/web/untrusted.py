"""Show untrusted text on the web page as what it is: isolated from its surroundings, controls made visible.

A name like "Kestrel \\u202eelibom\\u202c support" would otherwise read "Kestrel mobile support", and an
unclosed override would reverse the timestamps after it. Every untrusted string goes through `isolate`, which
escapes it, replaces bidirectional and other invisible control characters by a visible `<U+202E>` marker,
and wraps it in `<bdi>` (whose `unicode-bidi: isolate` keeps any direction it has inside it).
"""

from __future__ import annotations

import unicodedata

from markupsafe import Markup, escape

#: Characters that change the reading order of the text around them (Trojan Source).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
#: Invisible characters that are part of ordinary text (emoji sequences, some scripts) and are kept.
_KEPT_FORMAT = frozenset("\u200c\u200d\ufe0e\ufe0f")


def _hidden(ch: str) -> bool:
    if ch in BIDI_CONTROLS:
        return True
    if ch in "\n\t" or ch in _KEPT_FORMAT:
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") or ch == "\x7f"


def visible(value: object) -> str:
    """Return the text with every bidi control or invisible control replaced by `<U+XXXX>` (plain text)."""
    text = "" if value is None else str(value)
    return "".join(f"<U+{ord(ch):04X}>" if _hidden(ch) else ch for ch in text)


def isolate(value: object) -> Markup:
    """Return escaped, isolated markup for an untrusted string, its controls shown as marked `<U+XXXX>`."""
    text = "" if value is None else str(value)
    parts = []
    for ch in text:
        if _hidden(ch):
            name = unicodedata.name(ch, "control character").lower()
            parts.append(f'<span class="ctl" title="{escape(name)}">&lt;U+{ord(ch):04X}&gt;</span>')
        else:
            parts.append(str(escape(ch)))
    return Markup('<bdi class="untrusted">' + "".join(parts) + "</bdi>")  # every part is escaped


def href(value: object) -> str:
    """Return a URL for an `href` with every hidden or control character percent-encoded (plain text)."""
    text = "" if value is None else str(value)
    return "".join("".join(f"%{b:02X}" for b in ch.encode("utf-8")) if _hidden(ch) or ch in "\n\t" else ch
                   for ch in text)
