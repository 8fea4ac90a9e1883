"""Reddit things without the network: Reddit's JSON for comments (t1) and submissions (t3) as `Mention`s.

Kept apart from `sources/reddit.py` (the only module importing praw) so the rules can be read and tested on
Reddit's own JSON, recorded or live.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.domain import Mention, ReplyPath
from sources.base import BRAND_POST_REASON, FatalSourceError, MalformedResponse

REDDIT = "https://www.reddit.com"
#: Reddit's limit on a comment's text.
REDDIT_MAX_REPLY_CHARS = 10_000
_GONE_TEXT = {"[deleted]", "[removed]"}
_CONTEXT_LINK = re.compile(r"/comments/([a-z0-9]+)/")


def is_gone(data: Mapping[str, Any]) -> bool:
    """Return True when a thing was deleted by its author or removed, so its content must not be kept."""
    author = data.get("author")
    author_name = str(author) if author is not None else None
    body = data.get("body") if "body" in data else data.get("selftext")
    if data.get("removed_by_category") in ("deleted", "author", "moderator", "reddit", "anti_evil_ops",
                                           "copyright_takedown", "content_takedown"):
        return True
    return author_name in (None, "[deleted]") and (body in _GONE_TEXT or data.get("title") in _GONE_TEXT)


def _link_id(data: Mapping[str, Any]) -> str | None:
    if data.get("link_id"):
        return str(data["link_id"])
    context = data.get("context") or data.get("permalink") or ""
    found = _CONTEXT_LINK.search(str(context))
    return f"t3_{found.group(1)}" if found else None


def thing_url(kind: str, data: Mapping[str, Any]) -> str:
    """Return the public URL of a thing, from its permalink or, in older JSON, its ids."""
    permalink = str(data.get("permalink") or data.get("context") or "").split("?")[0]
    if permalink:
        return permalink if str(permalink).startswith("http") else f"{REDDIT}{permalink}"
    # Reddit also answers /r/<subreddit>/comments/...: naming the subreddit where the thing says it keeps the post's
    # community in its address (`BrandSettings.in_community`)
    place = f"/r/{data['subreddit']}" if isinstance(data.get("subreddit"), str) and data["subreddit"] else ""
    if kind == "t3":
        return f"{REDDIT}{place}/comments/{data['id']}/"
    link = _link_id(data)
    return (f"{REDDIT}{place}/comments/{link[3:]}/_/{data['id']}/" if link
            else f"{REDDIT}{place}/comments/_/_/{data['id']}/")


def reply_path_for(kind: str, data: Mapping[str, Any], *, can_reply: bool, own_user: str | None,
                   url: str) -> tuple[ReplyPath, str | None]:
    """Decide how a responder can answer a thing: locked and archived threads take no replies."""
    if own_user and str(data.get("author") or "").lower() == own_user.lower():
        return ReplyPath.BLOCKED, BRAND_POST_REASON
    if data.get("locked"):
        return ReplyPath.BLOCKED, "the thread is locked"
    if data.get("archived"):
        return ReplyPath.BLOCKED, "the thread is archived (Reddit closes threads to replies)"
    if not can_reply:
        return ReplyPath.OPEN_IN_APP, f"no Reddit account credentials to reply; answer it on Reddit: {url}"
    return ReplyPath.API, None


def jsonable(value: Any, depth: int = 0) -> Any:
    """Reduce a praw attribute to JSON: models become their name or id, nesting is bounded."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 6:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    return str(value)


def names_user(text: str, user: str | None) -> bool:
    """Return True when `text` calls on Reddit user `user` by name (u/name or /u/name), as inbox mentions do."""
    return bool(user) and re.search(rf"(?<![\w/])/?u/{re.escape(str(user))}(?![\w-])", text, re.I) is not None


def normalise_thing(kind: str, data: Mapping[str, Any], *, can_reply: bool, own_user: str | None = None,
                    query_kind: str = "search") -> Mention | None:
    """Turn a comment (t1) or submission (t3) into a `Mention`; None when it was deleted or removed."""
    if kind not in ("t1", "t3"):
        raise ValueError(f"kind {kind!r} is neither a comment (t1) nor a submission (t3)")
    if is_gone(data):
        return None
    thing_id = str(data["id"])
    if kind == "t3":
        title = str(data.get("title") or "")
        body = str(data.get("selftext") or "")
        text = f"{title}\n\n{body}" if body else title
        conversation: str | None = f"t3_{thing_id}"
        parent: str | None = None
    else:
        body = data["body"]
        if not isinstance(body, str):
            raise ValueError(f"t1_{thing_id}: body is not a string")
        text = body
        conversation, parent = _link_id(data), (str(data["parent_id"]) if data.get("parent_id") else None)
    created = data.get("created_utc")
    if not isinstance(created, (int, float)) or isinstance(created, bool) or not math.isfinite(created):
        raise ValueError(f"{kind}_{thing_id}: created_utc is missing")
    url = thing_url(kind, data)
    path, reason = reply_path_for(kind, data, can_reply=can_reply, own_user=own_user, url=url)
    author = str(data.get("author") or "[deleted]")
    raw = {k: jsonable(v) for k, v in data.items() if not str(k).startswith("_") and not str(k).endswith("_html")}
    return Mention(
        network="reddit",
        external_id=f"{kind}_{thing_id}",
        author_handle=author,
        author_name=author,
        text=text,
        created_at=datetime.fromtimestamp(float(created), UTC),
        url=url,
        language=None,
        conversation_id=conversation,
        parent_id=parent,
        reply_path=path,
        reply_path_reason=reason,
        addressed=query_kind == "mentions" or names_user(text, own_user),
        raw={"kind": kind, "data": raw, "query_kind": query_kind},
    )


def unseen(ks: dict[str, Any], things: list[tuple[str, dict[str, Any]]], *, overlap_s: float, name: str,
            kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the things not emitted before, and move the listing's cursor past them."""
    seen: dict[str, float] = dict(ks.get("seen") or {})
    newest = float(ks.get("newest_utc") or 0.0)
    cutoff = newest - overlap_s if newest else None
    fresh = []
    for thing_kind, data in things:
        fullname = f"{thing_kind}_{data.get('id')}"
        created = data.get("created_utc")
        if not isinstance(created, (int, float)):
            raise MalformedResponse(f"Reddit {kind}: {fullname} has no created_utc")
        if fullname in seen or (cutoff is not None and created < cutoff):
            continue
        fresh.append((thing_kind, data))
        seen[fullname] = float(created)
    newest = max([newest, *seen.values()])
    keep = sorted(((c, f) for f, c in seen.items() if c >= newest - overlap_s), reverse=True)[:1000]
    ks["newest_utc"] = newest
    ks["seen"] = {f: c for c, f in keep}
    return fresh


def load_cursor(cursor: str | None, name: str) -> dict[str, Any]:
    """Parse the Reddit source's JSON cursor; one that is not is fatal (never overwritten blindly)."""
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except json.JSONDecodeError:
        raise FatalSourceError(f"source {name!r}: the stored cursor is not Reddit cursor JSON") from None
    if not isinstance(state, dict):
        raise FatalSourceError(f"source {name!r}: the stored cursor is not a Reddit cursor")
    return state


def same_body(body: Any, text: str) -> bool:
    """Return True when a comment's body is the reply `text` (Reddit keeps the Markdown as typed; white space aside)."""
    def comparable(value: str) -> str:
        return " ".join(unicodedata.normalize("NFC", value).split())

    return isinstance(body, str) and bool(text.strip()) and comparable(body) == comparable(text)


__all__ = ["REDDIT_MAX_REPLY_CHARS", "is_gone", "jsonable", "load_cursor", "normalise_thing", "reply_path_for",
           "same_body", "thing_url", "unseen"]
