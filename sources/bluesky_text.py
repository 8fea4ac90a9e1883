"""Bluesky text helpers that need no SDK: grapheme counts and limits, facets, post addresses, times, search."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import regex

from core.query import And, Node, Or, Term, parse_query
from sources.reply_limits import ReplyRejected, check_reply_text

#: What an `app.bsky.feed.post` record's text may hold (its lexicon: maxGraphemes 300, maxLength 3000 bytes).
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
#: One extended grapheme cluster (Unicode UAX #29): what a reader sees as one character.
_GRAPHEME = regex.compile(r"\X")
_LINK = re.compile(r"https?://[^\s)\]]+")
_HANDLE = re.compile(r"(?<![\w@])@([a-zA-Z0-9.-]+\.[a-zA-Z]{2,})")


def graphemes(text: str) -> int:
    """Count user-perceived characters as Bluesky does: Unicode extended grapheme clusters (the `regex` \\X).

    A letter with its combining marks, an emoji ZWJ sequence, a flag (two regional indicators), a keycap or a
    Hangul syllable written as jamo is one each.
    """
    return len(_GRAPHEME.findall(text))


def check_post_text(text: str) -> int:
    """Refuse text a post record cannot hold (empty, over 300 graphemes or 3000 UTF-8 bytes); return its graphemes."""
    count = check_reply_text(text, limit=MAX_GRAPHEMES, network="bluesky", measure=graphemes)
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ReplyRejected(f"bluesky: the reply is {size} bytes in UTF-8 ({count} graphemes); a post holds at "
                            f"most {MAX_TEXT_BYTES} bytes")
    return count


def facets_for(text: str, dids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Byte-range facets for the links and the @handles (whose DIDs are known) in `text`."""
    found: list[dict[str, Any]] = []

    def span(start: int, end: int) -> dict[str, int]:
        return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}

    for match in _LINK.finditer(text):
        found.append({"$type": "app.bsky.richtext.facet", "index": span(*match.span()),
                      "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group(0)}]})
    for match in _HANDLE.finditer(text):
        did = dids.get(match.group(1).lower())
        if did:
            found.append({"$type": "app.bsky.richtext.facet", "index": span(*match.span()),
                          "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]})
    return found


def _render(node: Node) -> str:
    """Bluesky search syntax for one query node: AND is a space, OR keeps its first branch, NOT is dropped."""
    if isinstance(node, Term):
        return {"phrase": f'"{node.value}"', "hashtag": f"#{node.value.lstrip('#')}",
                "handle": f"mentions:{node.value.lstrip('@')}", "lang": f"lang:{node.value}"}.get(node.kind, node.value)
    if isinstance(node, And):
        return " ".join(part for part in (_render(child) for child in node.children) if part)
    if isinstance(node, Or):
        return _render(node.children[0])
    return ""  # Not: Bluesky search cannot exclude


def search_string(query: str | None) -> str | None:
    """Translate a brand query into one Bluesky search string through the one query parser.

    Limits: Bluesky search has no OR, no grouping and no exclusion, so only the first OR branch is searched
    and exclusions are left out; the local matcher applies the whole query to every post found.
    """
    if not query:
        return None
    return _render(parse_query(query).tree).strip() or None


def post_url(uri: str, handle: str) -> str:
    """The bsky.app address of an `at://` post URI."""
    rkey = uri.rsplit("/", 1)[-1]
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


def when(value: str) -> datetime:
    """Parse an AT Protocol datetime into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """Format an aware datetime as the AT Protocol writes it (UTC, `Z`)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def gate_reason(post: Mapping[str, Any]) -> str:
    """Say why the thread gate on `post` keeps the brand out, from its threadgate record when it is there."""
    record = (post.get("threadgate") or {}).get("record") or {}
    allow = record.get("allow")
    if allow == []:
        return "the author turned replies off (thread gate)"
    names = {"app.bsky.feed.threadgate#mentionRule": "accounts mentioned in the post",
             "app.bsky.feed.threadgate#followerRule": "the author's followers",
             "app.bsky.feed.threadgate#followingRule": "accounts the author follows",
             "app.bsky.feed.threadgate#listRule": "accounts on the author's lists"}
    allowed = [names.get(str(rule.get("$type")), "some accounts") for rule in allow or () if isinstance(rule, Mapping)]
    if allowed:
        return f"the author's thread gate lets only {', '.join(allowed)} reply, and the brand is not one"
    return "the author's thread gate does not let the brand reply"


def speaks_to(post: Mapping[str, Any], did: str) -> bool:
    """Return True when `post` (a postView) mentions the account `did`, answers one of its posts or quotes one.

    Mentions are the record's `app.bsky.richtext.facet#mention` features; a post's address (`at://DID/...`) names
    its author, so a reply's parent and a quoted record (`app.bsky.embed.record`, or the record of
    `app.bsky.embed.recordWithMedia`) say whose post they are.
    """
    if not did:
        return False
    record = post.get("record") or {}
    for facet in record.get("facets") or ():
        for feature in (facet.get("features") or ()) if isinstance(facet, Mapping) else ():
            if isinstance(feature, Mapping) and feature.get("did") == did and str(
                    feature.get("$type", "")).endswith("facet#mention"):
                return True
    own = f"at://{did}/"
    parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
    embed = record.get("embed") or {}
    quoted = (embed.get("record") or {}) if isinstance(embed, Mapping) else {}
    if isinstance(quoted.get("record"), Mapping):  # recordWithMedia: {record: {record: strongRef}}
        quoted = quoted["record"]
    return any(isinstance(uri, str) and uri.startswith(own) for uri in (parent, quoted.get("uri")))
