"""Bluesky through the atproto SDK: mention notifications, keyword search, the brand's own posts; replies.

Mentions come from `app.bsky.notification.listNotifications` (reasons mention, reply, quote; its cursor kept),
keywords from `app.bsky.feed.searchPosts` with `sort=latest` and `since`. The query parser's plain terms become
one search string; Bluesky search has no OR and no grouping, so only the terms of the first OR branch are sent and
the local matcher filters the rest. Login uses a handle and an app password; the session string is kept and reused
(Bluesky allows 30 session creations per 5 minutes) and the SDK refreshes it when it expires. Replies are
`app.bsky.feed.post` records with strong-ref `reply.root` and `reply.parent`, link and mention facets, and the
`langs` of the post answered; 300 graphemes at most. This is the only module that imports atproto.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from atproto import Client
from atproto.exceptions import AtProtocolError, NetworkError, RateLimitExceededError, UnauthorizedError

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.settings import Secrets
from sources.base import FatalSourceError, MalformedResponse, RateLimited, RetriableError, Source
from sources.reply_limits import check_reply_text
from sources.spend import UsageMeter

log = logging.getLogger(__name__)

BLUESKY = "bluesky"
MAX_GRAPHEMES = 300
REASONS = ("mention", "reply", "quote")
_LINK = re.compile(r"https?://[^\s)\]]+")
_HANDLE = re.compile(r"(?<![\w@])@([a-zA-Z0-9.-]+\.[a-zA-Z]{2,})")


def graphemes(text: str) -> int:
    """Count user-perceived characters: a base character with its combining marks and joined emoji is one."""
    count, joined = 0, False
    for char in text:
        if unicodedata.combining(char) or char in "\u200d\ufe0f" or 0x1F3FB <= ord(char) <= 0x1F3FF or joined:
            joined = char == "\u200d"
            continue
        count += 1
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


def _render(node: Any) -> str:
    """Bluesky search syntax for one query node: AND is a space, OR keeps its first branch, NOT is dropped."""
    from core.query import And, Not, Or, Term

    if isinstance(node, Term):
        return {"phrase": f'"{node.value}"', "hashtag": f"#{node.value.lstrip('#')}",
                "handle": f"mentions:{node.value.lstrip('@')}", "lang": f"lang:{node.value}"}.get(node.kind, node.value)
    if isinstance(node, And):
        return " ".join(part for part in (_render(child) for child in node.children) if part)
    if isinstance(node, Or):
        return _render(node.children[0])
    if isinstance(node, Not):
        return ""
    return ""


def search_string(query: str | None) -> str | None:
    """Translate a brand query into one Bluesky search string through the one query parser.

    Limits: Bluesky search has no OR, no grouping and no exclusion, so only the first OR branch is searched
    and exclusions are left out; the local matcher applies the whole query to every post found.
    """
    if not query:
        return None
    from core.query import parse_query

    return _render(parse_query(query).tree).strip() or None


def _dump(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    return dict(obj.model_dump(by_alias=True, exclude_none=True))


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def post_url(uri: str, handle: str) -> str:
    """The bsky.app address of an `at://` post URI."""
    rkey = uri.rsplit("/", 1)[-1]
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


class BlueskySource(Source):
    """Poll Bluesky for a brand's mentions and keyword posts; reply in the thread."""

    network = BLUESKY

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], query: str | None = None,
                 handles: Mapping[str, str] | None = None, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] | None = None, client: Any = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.search = search_string(str(options.get("search") or query or "") or None)
        self.service = str(options.get("service_url") or "https://bsky.social")
        self.meter = UsageMeter()
        self.session_string: str | None = options.get("session_string")
        handle = secrets.bluesky_handle if secrets is not None else None
        password = secrets.bluesky_app_password if secrets is not None else None
        if client is None and (handle is None or password is None):
            raise FatalSourceError(f"source {name!r}: set BRANDMON_BLUESKY_HANDLE and BRANDMON_BLUESKY_APP_PASSWORD "
                                   "(an app password, never the account password)")
        self._handle = handle.get_secret_value() if handle is not None else ""
        self._password = password.get_secret_value() if password is not None else ""
        self.client = client if client is not None else Client(base_url=self.service)
        self.client.on_session_change(self._keep_session)
        self._logged_in = False

    @classmethod
    def required_secrets(cls) -> tuple[str, ...]:
        """The environment variables this source cannot run without."""
        return ("BRANDMON_BLUESKY_HANDLE", "BRANDMON_BLUESKY_APP_PASSWORD")

    @classmethod
    def reads(cls) -> tuple[str, ...]:
        """The XRPC reads one poll makes, for `brandmon sources`."""
        return ("app.bsky.notification.listNotifications", "app.bsky.feed.searchPosts",
                "app.bsky.feed.getAuthorFeed (own)", "app.bsky.feed.getPosts (reply parents)")

    def _keep_session(self, event: Any, session: Any) -> None:
        self.session_string = self.client.export_session_string()
        log.info("bluesky %s: session %s", self.name, getattr(event, "value", event))

    def _login(self) -> None:
        if self._logged_in:
            return
        if self.session_string:
            try:
                self._call("login (session)", self.client.login, session_string=self.session_string)
                self._logged_in = True
                return
            except FatalSourceError:
                log.info("bluesky %s: the kept session was refused; creating a new one", self.name)
        self._call("login", self.client.login, self._handle, self._password)
        self.session_string = self.client.export_session_string()
        self._logged_in = True

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RateLimitExceededError as exc:
            raise RateLimited(exc.reset_at or self.clock() + timedelta(minutes=5),
                              f"bluesky {what}: rate limited") from exc
        except UnauthorizedError as exc:
            raise FatalSourceError(f"bluesky {what}: the handle or app password was refused") from exc
        except NetworkError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", "")
            raise RetriableError(f"bluesky {what}: {type(exc).__name__} {status}".rstrip()) from exc
        except AtProtocolError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", "")
            raise RetriableError(f"bluesky {what}: {type(exc).__name__} {status}".rstrip()) from exc
        except ValueError as exc:
            raise MalformedResponse(f"bluesky {what}: the answer is not JSON ({type(exc).__name__})") from exc

    def normalise(self, post: Mapping[str, Any]) -> Mention:
        """Turn one `app.bsky.feed.defs#postView` into a `Mention` (the DID as the stable author id)."""
        try:
            author, record = post["author"], post["record"]
            reply = record.get("reply") or {}
            viewer = post.get("viewer") or {}
            path, reason = ReplyPath.API, None
            if viewer.get("replyDisabled"):
                path, reason = ReplyPath.BLOCKED, "the author's thread gate does not let the brand reply"
            langs = record.get("langs") or []
            return Mention(
                network=BLUESKY, external_id=str(post["uri"]), author_handle=str(author["handle"]),
                author_name=str(author.get("displayName") or author["handle"]), text=str(record.get("text") or ""),
                created_at=_when(str(record.get("createdAt") or post["indexedAt"])),
                url=post_url(str(post["uri"]), str(author["handle"])), language=langs[0] if langs else None,
                conversation_id=str((reply.get("root") or {}).get("uri") or post["uri"]),
                parent_id=(reply.get("parent") or {}).get("uri"), reply_path=path, reply_path_reason=reason,
                raw={"post": dict(post), "author_did": str(author["did"]), "cid": str(post["cid"])})
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"bluesky: a post lacks {exc}") from exc

    def poll(self, cursor: str | None) -> Batch:
        """Read notifications after the cursor, then the newest search results since the last poll."""
        self._login()
        state = json.loads(cursor) if cursor else {}
        params: dict[str, Any] = {"reasons": list(REASONS), "limit": 50}
        if state.get("cursor"):
            params["cursor"] = state["cursor"]
        page = _dump(self._call("listNotifications", self.client.app.bsky.notification.list_notifications,
                                params=params))
        uris = [n["uri"] for n in page.get("notifications") or [] if n.get("reason") in REASONS]
        mentions: dict[str, Mention] = {}
        if uris:
            posts = _dump(self._call("getPosts", self.client.app.bsky.feed.get_posts, params={"uris": uris[:25]}))
            for post in posts.get("posts") or []:
                mention = self.normalise(_dump(post))
                mentions.setdefault(mention.external_id, mention)
        since = state.get("since")
        if self.search:
            sparams: dict[str, Any] = {"q": self.search, "sort": "latest", "limit": 50}
            if since:
                sparams["since"] = since
            found = _dump(self._call("searchPosts", self.client.app.bsky.feed.search_posts, params=sparams))
            for post in found.get("posts") or []:
                mention = self.normalise(_dump(post))
                mentions.setdefault(mention.external_id, mention)
        self.meter.add("post_read", len(mentions))
        newest = max((m.created_at for m in mentions.values()), default=None)
        next_state = {"cursor": page.get("cursor") or state.get("cursor"),
                      "since": newest.isoformat().replace("+00:00", "Z") if newest else since,
                      "seen_at": page.get("seenAt") or state.get("seen_at")}
        return Batch(mentions=tuple(mentions.values()), cursor=json.dumps(next_state, sort_keys=True))

    def mark_seen(self, seen_at: datetime) -> None:
        """`updateSeen` after a batch is stored, so the app's unread count matches."""
        self._login()
        stamp = seen_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        self._call("updateSeen", self.client.app.bsky.notification.update_seen, data={"seenAt": stamp})

    def check_reply(self, text: str) -> int:
        """Refuse a reply over 300 graphemes before it is queued."""
        return check_reply_text(text, limit=MAX_GRAPHEMES, network=BLUESKY, measure=graphemes)

    def reply_record(self, mention: Mention, text: str) -> dict[str, Any]:
        """The `app.bsky.feed.post` record answering `mention`: root from the parent's own reply ref."""
        post = mention.raw.get("post") or {}
        parent = {"uri": mention.external_id, "cid": str(mention.raw["cid"])}
        root = ((post.get("record") or {}).get("reply") or {}).get("root") or parent
        dids = {mention.author_handle.lower(): str(mention.raw["author_did"])}
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
                                  "reply": {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent}}
        facets = facets_for(text, dids)
        if facets:
            record["facets"] = facets
        langs = (post.get("record") or {}).get("langs")
        if langs:
            record["langs"] = list(langs)[:3]
        return record

    def reply(self, mention: Mention, text: str) -> PostedReply:
        """Post `text` as a reply record in `mention`'s thread."""
        self.check_reply(text)
        self._login()
        record = self.reply_record(mention, text)
        data = {"repo": self.client.me.did, "collection": "app.bsky.feed.post", "record": record}
        out = _dump(self._call("createRecord", self.client.com.atproto.repo.create_record, data=data))
        self.meter.add("reply", 1)
        log.info("bluesky %s: replied to %s as %s", self.name, mention.external_id, out["uri"])
        return PostedReply(external_id=str(out["uri"]), url=post_url(str(out["uri"]), self._handle or "me"),
                           posted_at=_when(record["createdAt"]), raw={"record": record, "cid": out["cid"]})

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's own reply to `mention` in the thread (a reply of unknown outcome), or None."""
        self._login()
        thread = _dump(self._call("getPostThread", self.client.app.bsky.feed.get_post_thread,
                                  params={"uri": mention.external_id, "depth": 1}))
        me = self.client.me.did
        for node in (thread.get("thread") or {}).get("replies") or []:
            post = node.get("post") or {}
            if (post.get("author") or {}).get("did") == me and (post.get("record") or {}).get("text") == text:
                return PostedReply(external_id=str(post["uri"]), url=post_url(str(post["uri"]), self._handle or "me"),
                                   posted_at=_when(str(post["record"]["createdAt"])), raw={"post": post})
        return None

    def redacted(self) -> dict[str, Any]:
        """Describe the source without its password or session."""
        return {**super().redacted(), "service_url": self.service, "search": self.search}
