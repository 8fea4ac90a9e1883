"""X posts without the network: normalising API v2 payloads to `Mention`, reply rules and reply length.

Kept apart from `sources/x.py` (the only module importing tweepy) so the rules can be read and tested alone.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.domain import Mention, PostedReply, ReplyPath
from sources.base import BRAND_POST_REASON, FatalSourceError, MalformedResponse, mark_brand_post
from sources.entities import decode_entities

#: X's reply limit in weighted characters; every URL counts as 23 however long it is.
X_MAX_WEIGHTED_CHARS = 280
X_URL_WEIGHT = 23
#: Epoch of X's snowflake ids, in milliseconds.
_SNOWFLAKE_EPOCH_MS = 1288834974657
#: Code point ranges twitter-text weighs as one character; everything else (CJK, emoji...) weighs two.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
#: A link as X detects one; trailing punctuation is not part of it.
_URL_TAIL = r"(?:[^\s<>\"']*[^\s<>\"'.,!?;:)])?"
_URL = re.compile(
    r"(?i)\b(?:https?://" + _URL_TAIL + r"|www\." + _URL_TAIL + r"|[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|io|co|uk|de|fr|app|dev|info|biz|me|tv|ly|gl|gg|ai)(?:/" + _URL_TAIL + r")?)(?=[\s.,!?;:)]|$)"
)
#: An emoji as twitter-text v3 finds one: a flag, a keycap, or a pictograph with its variation selector, skin tone,
#: tags and zero-width-joined partners. The whole sequence weighs 2, however many code points it has.
_EMOJI_BASE = (r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2300-\u23FF\u2B00-\u2BFF\u2190-\u21FF\u25A0-\u25FF"
               r"\u2934\u2935\u3030\u303D\u3297\u3299\u203C\u2049\u2122\u2139\u24C2]")
_EMOJI_MOD = r"(?:\uFE0F|[\U0001F3FB-\U0001F3FF]|[\U000E0020-\U000E007F])"
_EMOJI = re.compile(r"[\U0001F1E6-\U0001F1FF]{2}|[0-9#*]\uFE0F?\u20E3|[\u00A9\u00AE]\uFE0F|"
                    + _EMOJI_BASE + _EMOJI_MOD + r"*(?:\u200D" + _EMOJI_BASE + _EMOJI_MOD + r"*)*")
_UNDETERMINED_LANGS = {"und", "zxx", "qme", "qam", "qct", "qht", "qst", "art"}
#: The @handles X puts in front of a reply's text (the accounts it answers); a reply's own words follow them.
_LEADING_MENTIONS = re.compile(r"^(?:\.?@\w{1,15}\s+)+")


def snowflake_time(post_id: str) -> datetime:
    """Return the creation time encoded in an X post id."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + _SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def parse_x_time(value: str) -> datetime:
    """Parse X's RFC 3339 timestamps ("2026-02-03T10:00:00.000Z") into aware UTC datetimes."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def contains_url(text: str) -> bool:
    """Return True when X would turn part of `text` into a link."""
    return _URL.search(text) is not None


def weighted_length(text: str) -> int:
    """Count `text` the way X does (twitter-text v3): NFC; each URL 23; each emoji, even a joined sequence, 2;
    code points in `_LIGHT_RANGES` 1 and everything else (CJK, Hangul, other astral characters) 2.

    This is the one X counter: the source checks replies with it and the queue (`monitor/queue/replies.py`) uses it.
    """
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in _URL.finditer(text):
        total += _weigh(text[position : match.start()]) + X_URL_WEIGHT
        position = match.end()
    return total + _weigh(text[position:])


def _weigh(text: str) -> int:
    total, position = 0, 0
    for match in _EMOJI.finditer(text):
        total += _weigh_chars(text[position : match.start()]) + 2
        position = match.end()
    return total + _weigh_chars(text[position:])


def _weigh_chars(text: str) -> int:
    return sum(1 if any(lo <= ord(c) <= hi for lo, hi in _LIGHT_RANGES) else 2 for c in text)


def _referenced(post: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    # API 2.167 names it referenced_posts; older responses (and tweepy's recordings) referenced_tweets.
    refs = post.get("referenced_posts", post.get("referenced_tweets")) or []
    return [ref for ref in refs if isinstance(ref, Mapping)]


def names_handle(text: str, handle: str) -> bool:
    """Return True when `text` @-mentions the account `handle` ("@KestrelMobile", not "@KestrelMobileFan")."""
    return re.search(rf"(?<![\w@])@{re.escape(handle)}(?!\w)", text, re.IGNORECASE) is not None


def _summoned(post: Mapping[str, Any], quoted_authors: Mapping[str, str], *, handle: str | None,
              user_id: str | None) -> bool:
    """Return True when the author @-mentioned the brand's account or quoted one of its posts."""
    if not handle and not user_id:
        return False
    entities = post.get("entities") or {}
    for mention in entities.get("mentions") or []:
        if (user_id and mention.get("id") == user_id) or (
            handle and str(mention.get("username") or "").lower() == handle.lower()
        ):
            return True
    if handle and "mentions" not in entities and names_handle(post["text"], handle):
        return True  # responses without entities (no entity expansion) still carry the @handle in the text
    return any(ref.get("type") == "quoted" and user_id and quoted_authors.get(str(ref.get("id"))) == user_id
               for ref in _referenced(post))


def reply_path_for(post: Mapping[str, Any], *, summoned: bool, handle: str | None, user_id: str | None,
                   can_write: bool, url: str, author_username: str = "") -> tuple[ReplyPath, str | None]:
    """Decide how a responder can answer a post, under X's 2026 rule for self-serve API replies.

    `summoned`: the post @-mentions or quotes the brand (`_summoned`), as only such posts take an API reply.
    """
    if (user_id and post.get("author_id") == user_id) or (handle and author_username.lower() == handle.lower()):
        return ReplyPath.BLOCKED, BRAND_POST_REASON
    if any(ref.get("type") == "retweeted" for ref in _referenced(post)):
        return ReplyPath.BLOCKED, "a repost cannot be replied to; answer the original post"
    settings = post.get("reply_settings")
    if settings in ("mentionedUsers", "following", "subscribers", "verified") and not summoned:
        return ReplyPath.BLOCKED, f"the author limits replies ({settings})"
    if not summoned:
        return ReplyPath.OPEN_IN_APP, (
            f"X lets API apps reply only to posts that @-mention or quote the brand; answer it in the app: {url}"
        )
    if not can_write:
        return ReplyPath.OPEN_IN_APP, f"no X user credentials to post replies; answer it in the app: {url}"
    return ReplyPath.API, None


def normalise_post(post: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]],
                   quoted_authors: Mapping[str, str], *, handle: str | None, user_id: str | None,
                   can_write: bool, query_kind: str) -> Mention:
    """Turn one API v2 post (with the expanded users) into a `Mention`; raise KeyError/ValueError if malformed."""
    post_id = str(post["id"])
    if not post_id.isdigit():
        raise ValueError(f"post id {post_id!r} is not numeric")
    text = post["text"]
    note = post.get("note_post")
    if isinstance(note, Mapping) and isinstance(note.get("text"), str) and note["text"]:
        text = note["text"]  # a long post: `text` is cut at 280, the note has all of it
    if not isinstance(text, str):
        raise ValueError(f"post {post_id}: text is not a string")
    text = decode_entities(text)
    author_id = str(post.get("author_id") or "")
    author = users.get(author_id) or {}
    username = str(author.get("username") or "")
    url = f"https://x.com/{username}/status/{post_id}" if username else f"https://x.com/i/status/{post_id}"
    metrics = author.get("public_metrics") or {}
    created = post.get("created_at")
    language = post.get("lang")
    parent = next((str(ref["id"]) for ref in _referenced(post) if ref.get("type") == "replied_to"), None)
    summoned = _summoned(post, quoted_authors, handle=handle, user_id=user_id)
    path, reason = reply_path_for(post, summoned=summoned, handle=handle, user_id=user_id, can_write=can_write,
                                  url=url, author_username=username)
    return Mention(
        network="x",
        external_id=post_id,
        author_handle=username or author_id or "unknown",
        author_name=str(author.get("name") or username or author_id or "unknown"),
        author_followers=int(metrics["followers_count"]) if "followers_count" in metrics else None,
        author_verified=bool(author.get("verified")) or author.get("verified_type") in ("business", "government"),
        text=text,
        language=None if not language or language in _UNDETERMINED_LANGS else str(language),
        url=url,
        created_at=parse_x_time(created) if created else snowflake_time(post_id),
        conversation_id=str(post["conversation_id"]) if post.get("conversation_id") else None,
        parent_id=parent,
        reply_path=path,
        reply_path_reason=reason,
        addressed=summoned,
        raw={"post": dict(post), "author": dict(author), "query_kind": query_kind},
    )


def is_brand_author(post: Mapping[str, Any], author: Mapping[str, Any], *, brand_ids: Collection[str],
                    brand_handles: Collection[str]) -> bool:
    """Return True when the post's author is one of the brand's accounts (by id, else by lower-cased handle)."""
    return (str(post.get("author_id") or "") in brand_ids
            or str(author.get("username") or "").lower() in brand_handles)


def replies_to(post: Mapping[str, Any], parent_id: str) -> bool:
    """Return True when `post` is a reply to the post `parent_id`."""
    return any(ref.get("type") == "replied_to" and str(ref.get("id")) == parent_id for ref in _referenced(post))


def _comparable(text: str) -> str:
    """Reduce a reply's text to what X keeps of it: entities decoded, the leading @handles X adds dropped, links
    (which X rewrites to t.co) made alike, and white space collapsed."""
    text = decode_entities(unicodedata.normalize("NFC", text)).strip()
    text = _LEADING_MENTIONS.sub("", text)
    return " ".join(_URL.sub("<link>", text).split())


def same_reply_text(posted: Mapping[str, Any], wanted: str) -> bool:
    """Return True when an X post's text is the reply `wanted`, as X stores it."""
    note = posted.get("note_post")
    text = note["text"] if isinstance(note, Mapping) and isinstance(note.get("text"), str) else posted.get("text")
    return isinstance(text, str) and bool(wanted.strip()) and _comparable(text) == _comparable(wanted)


def normalise_page(body: Mapping[str, Any], kind: str, *, handle: str | None, user_id: str | None, can_write: bool,
                   brand_ids: Collection[str], brand_handles: Collection[str],
                   all_brand: bool = False) -> tuple[list[Mention], int]:
    """Normalise one page of posts with its expansions; return its mentions and the number of posts X bills.

    Posts by one of the brand's accounts (`brand_ids`, `brand_handles`; every post when `all_brand`) are marked
    with `mark_brand_post`. Raise `MalformedResponse` when the page is not in the documented shape.
    """
    data = body.get("data") or []
    includes = body.get("includes") or {}
    if not isinstance(data, list) or not isinstance(includes, dict):
        raise MalformedResponse(f"X {kind}: data must be a list of posts")
    users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)}
    included = [p for p in (includes.get("posts") or includes.get("tweets") or []) if isinstance(p, dict)]
    quoted_authors = {str(p.get("id")): str(p.get("author_id")) for p in included}
    try:
        mentions = [normalise_post(post, users, quoted_authors, handle=handle, user_id=user_id, can_write=can_write,
                                   query_kind=kind) for post in data]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedResponse(f"X {kind}: a post is not in the documented shape: {exc!r}") from None
    mentions = [mark_brand_post(m) if all_brand or is_brand_author(
        m.raw["post"], m.raw["author"], brand_ids=brand_ids, brand_handles=brand_handles) else m for m in mentions]
    return mentions, len(data) + len(included)


def find_reply_among(posts: Sequence[Mapping[str, Any]], parent_id: str, text: str, *,
                     handle: str | None) -> PostedReply | None:
    """Return the first of `posts` that replies to `parent_id` with `text` (as X stores it), as a `PostedReply`."""
    for post in posts:
        post_id = str(post.get("id") or "")
        if post_id.isdigit() and replies_to(post, parent_id) and same_reply_text(post, text):
            created = post.get("created_at")
            return PostedReply(external_id=post_id, url=f"https://x.com/{handle or 'i'}/status/{post_id}",
                               posted_at=parse_x_time(created) if isinstance(created, str) else snowflake_time(post_id),
                               raw={"post": dict(post)})
    return None


def finish_run(ks: dict[str, Any]) -> None:
    """Close a page run: the next run starts after its newest post."""
    if ks.get("run_newest"):
        ks["since_id"] = ks["run_newest"]
    ks.pop("next_token", None)
    ks.pop("run_newest", None)


def load_cursor(cursor: str | None, name: str) -> dict[str, Any]:
    """Parse the X source's JSON cursor; a cursor that is not one is fatal (it must never be overwritten blindly)."""
    if not cursor:
        return {"v": 1, "kinds": {}}
    try:
        state = json.loads(cursor)
    except json.JSONDecodeError:
        raise FatalSourceError(f"source {name!r}: the stored cursor is not X cursor JSON: {cursor[:40]!r}") from None
    if not isinstance(state, dict) or not isinstance(state.get("kinds"), dict):
        raise FatalSourceError(f"source {name!r}: the stored cursor is not an X cursor")
    if not isinstance(state.get("brand_posts", {}), dict):
        raise FatalSourceError(f"source {name!r}: the stored cursor's brand_posts is not an object")
    return state


__all__ = ["X_MAX_WEIGHTED_CHARS", "X_URL_WEIGHT", "contains_url", "find_reply_among",
           "finish_run", "is_brand_author", "load_cursor", "names_handle", "normalise_page", "normalise_post",
           "replies_to", "reply_path_for", "same_reply_text", "snowflake_time", "weighted_length"]
