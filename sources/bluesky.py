"""Bluesky through the atproto SDK: mention notifications, keyword search, the brand's own posts; replies.

Mentions come from `app.bsky.notification.listNotifications` (reasons mention, reply, quote). Its `cursor` pages
back in time, so each poll reads from the newest page down to the newest notification the last stored batch held
(`notified_until` in brandmon's cursor), at most `max_pages` pages. Keywords come from `app.bsky.feed.searchPosts`
with `sort=latest` and `since`; the query parser's terms become one search string (Bluesky search has no OR, no
grouping and no exclusion: the first OR branch is searched and the local matcher filters the rest). With
`options.brand_posts` the brand's own posts (`app.bsky.feed.getAuthorFeed`) are kept too, marked
`raw["from_brand"]` and blocked for replies, so conversations show the brand's answers.

`app.bsky.notification.updateSeen` is only sent once a batch is stored: the cursor of a batch carries the newest
`indexedAt` it read as `seen_pending`, and the pipeline hands a cursor back to `poll` only after storing its batch
in the same transaction, so the next poll marks exactly what is stored as seen. A crash before the store replays
the old cursor, which does not hold the lost batch's notifications, so nothing unstored is ever marked seen.

Login uses a handle and an app password; the session is kept in a 0600 file (`sources/bluesky_session.py`) and
reused across restarts (Bluesky allows 30 session creations per 5 minutes); the SDK refreshes an expiring access
token with the refresh token, and a session the server refuses (expired or revoked) is replaced by a new one,
once per call. Replies are `app.bsky.feed.post` records with strong-ref `reply.root` and `reply.parent`, link and
mention facets, and the `langs` of the post answered; 300 graphemes at most. This is the only module that
imports atproto.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from atproto import Client, SessionEvent
from atproto.exceptions import (
    AtProtocolError,
    BadRequestError,
    NetworkError,
    RateLimitExceededError,
    UnauthorizedError,
)

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.settings import Secrets
from sources.base import (
    BRAND_POST_REASON,
    FatalSourceError,
    MalformedResponse,
    RateLimited,
    RetriableError,
    Source,
)
from sources.bluesky_session import SessionFile, session_path
from sources.bluesky_text import (
    MAX_GRAPHEMES,
    check_post_text,
    facets_for,
    gate_reason,
    graphemes,
    post_url,
    search_string,
    speaks_to,
    stamp,
    when,
)
from sources.spend import UsageMeter

log = logging.getLogger(__name__)

BLUESKY = "bluesky"
REASONS = ("mention", "reply", "quote")
PAGE_SIZE = 50
#: getPosts takes at most 25 URIs per call.
POSTS_PER_CALL = 25
#: The errors a PDS answers a stale session with (400), besides a 401.
_SESSION_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired"}

__all__ = ["BLUESKY", "MAX_GRAPHEMES", "BlueskySource", "graphemes", "post_url", "search_string"]


class SessionRefused(FatalSourceError):
    """The server refused the session or the credentials; fatal unless a new session fixes it."""


def _dump(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    return dict(obj.model_dump(by_alias=True, exclude_none=True))


def _xrpc_error(exc: AtProtocolError) -> str | None:
    """The XRPC error name (`ExpiredToken`...) of a failed call, when the server sent one."""
    content = getattr(getattr(exc, "response", None), "content", None)
    if isinstance(content, Mapping):
        return str(content.get("error") or "") or None
    error = getattr(content, "error", None)
    return str(error) if error else None


class BlueskySource(Source):
    """Poll Bluesky for a brand's mentions, keyword posts and own posts; reply in the thread."""

    network = BLUESKY

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], query: str | None = None,
                 handles: Mapping[str, str] | None = None, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] | None = None, client: Any = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        self.clock = clock or (lambda: datetime.now(UTC))
        try:
            self.search = search_string(str(options.get("search") or query or "") or None)
            self.max_pages = max(1, int(options.get("max_pages", 4)))
        except ValueError as exc:  # QueryError is a ValueError
            raise FatalSourceError(f"source {name!r}: options.search or options.max_pages: {exc}") from None
        self.service = str(options.get("service_url") or "https://bsky.social")
        self.brand_posts = bool(options.get("brand_posts", False))
        self.meter = UsageMeter()
        handle = secrets.bluesky_handle if secrets is not None else None
        password = secrets.bluesky_app_password if secrets is not None else None
        if handle is None or password is None:
            raise FatalSourceError(f"source {name!r}: set BRANDMON_BLUESKY_HANDLE and BRANDMON_BLUESKY_APP_PASSWORD "
                                   "(an app password, never the account password)")
        self._handle = handle.get_secret_value()
        self._password = password.get_secret_value()
        self.sessions = SessionFile(session_path(name, options.get("session_file")), identifier=self._handle,
                                    service=self.service)
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
                "app.bsky.feed.getAuthorFeed (own)", "app.bsky.feed.getPosts (notified posts)")

    # -- session --------------------------------------------------------------------------------------
    def _keep_session(self, event: Any, session: Any) -> None:
        """Write a created or refreshed session to the session file (an SDK session-change callback)."""
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self.sessions.save(self.client.export_session_string())
            log.info("bluesky %s: session %s and kept", self.name, getattr(event, "value", event))

    def _login(self) -> None:
        if self._logged_in:
            return
        kept = self.sessions.load()
        if kept:
            try:
                self._call("login (kept session)", self.client.login, session_string=kept)
                self._logged_in = True
                return
            except SessionRefused:
                log.info("bluesky %s: the kept session was refused; creating a new one", self.name)
                self.sessions.forget()
        self._create_session()

    def _create_session(self) -> None:
        self._logged_in = False
        self._call("createSession", self.client.login, self._handle, self._password)
        self._logged_in = True

    def _api(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """Call the API logged in; a session the server refuses is replaced once and the call repeated."""
        self._login()
        try:
            return self._call(what, fn, **kwargs)
        except SessionRefused:
            log.info("bluesky %s: %s refused the session; creating a new one", self.name, what)
            self.sessions.forget()
            self._create_session()
            return self._call(what, fn, **kwargs)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RateLimitExceededError as exc:
            raise RateLimited(exc.reset_at or self.clock() + timedelta(minutes=5),
                              f"bluesky {what}: rate limited") from exc
        except UnauthorizedError as exc:
            raise SessionRefused(f"bluesky {what}: the handle, app password or session was refused") from exc
        except BadRequestError as exc:
            error = _xrpc_error(exc)
            if error in _SESSION_ERRORS:
                raise SessionRefused(f"bluesky {what}: the session was refused ({error})") from exc
            raise RetriableError(f"bluesky {what}: BadRequestError 400 {error or ''}".rstrip()) from exc
        except (NetworkError, AtProtocolError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", "")
            raise RetriableError(f"bluesky {what}: {type(exc).__name__} {status}".rstrip()) from exc
        except ValueError as exc:
            raise MalformedResponse(f"bluesky {what}: the answer is not JSON ({type(exc).__name__})") from exc

    def _did(self) -> str:
        """The brand account's DID: from the profile fetched at login, else from the session."""
        for holder in (getattr(self.client, "me", None), getattr(self.client, "_session", None)):
            did = getattr(holder, "did", None)
            if did:
                return str(did)
        return ""

    # -- reading --------------------------------------------------------------------------------------
    def normalise(self, post: Mapping[str, Any], *, notified: bool = False) -> Mention:
        """Turn one `app.bsky.feed.defs#postView` into a `Mention` (the DID as the stable author id).

        `notified`: it came as a mention, reply or quote notification, so it speaks to the brand.
        """
        try:
            author, record = post["author"], post["record"]
            reply = record.get("reply") or {}
            viewer = post.get("viewer") or {}
            own = bool(self._did()) and author["did"] == self._did()
            path, reason = ReplyPath.API, None
            if own:
                path, reason = ReplyPath.BLOCKED, BRAND_POST_REASON
            elif viewer.get("replyDisabled"):
                path, reason = ReplyPath.BLOCKED, gate_reason(post)
            langs = record.get("langs") or []
            raw: dict[str, Any] = {"post": dict(post), "author_did": str(author["did"]), "cid": str(post["cid"])}
            if own:
                raw["from_brand"] = True
            return Mention(
                network=BLUESKY, external_id=str(post["uri"]), author_handle=str(author["handle"]),
                author_name=str(author.get("displayName") or author["handle"]), text=str(record.get("text") or ""),
                created_at=when(str(record.get("createdAt") or post["indexedAt"])),
                url=post_url(str(post["uri"]), str(author["handle"])), language=langs[0] if langs else None,
                conversation_id=str((reply.get("root") or {}).get("uri") or post["uri"]),
                parent_id=(reply.get("parent") or {}).get("uri"), reply_path=path, reply_path_reason=reason,
                addressed=not own and (notified or speaks_to(post, self._did())), raw=raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"bluesky: a post lacks {exc}") from exc

    def _keep(self, found: dict[str, Mention], post: Any, *, notified: bool = False) -> Mention | None:
        mention = self.normalise(_dump(post), notified=notified)
        if mention.raw.get("from_brand") and not self.brand_posts:
            return None  # the brand's own post is never a customer's mention
        found.setdefault(mention.external_id, mention)
        return mention

    def _notifications(self, until: str | None) -> tuple[list[dict[str, Any]], int]:
        """Notifications newer than `until`, newest first, and the pages read; the first poll reads one page."""
        newer: list[dict[str, Any]] = []
        page_cursor: str | None = None
        pages = 0
        for _ in range(self.max_pages):
            pages += 1
            params: dict[str, Any] = {"reasons": list(REASONS), "limit": PAGE_SIZE}
            if page_cursor:
                params["cursor"] = page_cursor
            page = _dump(self._api("listNotifications", self.client.app.bsky.notification.list_notifications,
                                   params=params))
            notes = [_dump(n) for n in page.get("notifications") or []]
            fresh = [n for n in notes if until is None or when(str(n["indexedAt"])) > when(until)]
            newer += fresh
            page_cursor = page.get("cursor")
            if until is None or len(fresh) < len(notes) or not page_cursor or not notes:
                break
        return newer, pages

    def _mark_seen(self, state: dict[str, Any]) -> bool:
        """Send `updateSeen` for what the stored batch held; False when it must be tried again."""
        pending = state.get("seen_pending")
        if not pending:
            return True
        try:
            self._api("updateSeen", self.client.app.bsky.notification.update_seen, data={"seenAt": pending})
        except RetriableError as exc:
            log.warning("bluesky %s: updateSeen failed (%s); tried again next poll", self.name, exc)
            return False
        return True

    def poll(self, cursor: str | None) -> Batch:
        """Mark the stored batch seen, then read new notifications, search results and the brand's own posts."""
        state = json.loads(cursor) if cursor else {}
        if not isinstance(state, dict):
            state = {}
        seen_sent = self._mark_seen(state)
        found: dict[str, Mention] = {}
        until = state.get("notified_until")
        notes, requests = self._notifications(until)
        uris = list(dict.fromkeys(str(n["uri"]) for n in notes if n.get("reason") in REASONS))
        for start in range(0, len(uris), POSTS_PER_CALL):
            requests += 1
            posts = _dump(self._api("getPosts", self.client.app.bsky.feed.get_posts,
                                    params={"uris": uris[start:start + POSTS_PER_CALL]}))
            for post in posts.get("posts") or []:
                self._keep(found, post, notified=True)
        self.meter.add("post_read", len(found), requests=requests)
        newest_note = max((str(n["indexedAt"]) for n in notes), key=when, default=None)
        since = self._search(found, state.get("since"))
        own_since = self._own_posts(found, state.get("own_since")) if self.brand_posts else None
        pending = newest_note or (None if seen_sent else state.get("seen_pending"))
        next_state = {"v": 2, "notified_until": newest_note or until, "seen_pending": pending, "since": since,
                      "own_since": own_since or state.get("own_since")}
        return Batch(mentions=tuple(found.values()), cursor=json.dumps(next_state, sort_keys=True))

    def _search(self, found: dict[str, Mention], since: str | None) -> str | None:
        """Read search results since the last poll; return the next `since` (never later than now)."""
        if not self.search:
            return since
        newest: datetime | None = None
        page_cursor: str | None = None
        read = requests = 0
        for _ in range(self.max_pages):
            params: dict[str, Any] = {"q": self.search, "sort": "latest", "limit": PAGE_SIZE}
            if since:
                params["since"] = since
            if page_cursor:
                params["cursor"] = page_cursor
            page = _dump(self._api("searchPosts", self.client.app.bsky.feed.search_posts, params=params))
            requests += 1
            posts = page.get("posts") or []
            for post in posts:
                mention = self._keep(found, post)
                read += 1
                if mention is not None and (newest is None or mention.created_at > newest):
                    newest = mention.created_at
            page_cursor = page.get("cursor")
            if since is None or not page_cursor or len(posts) < PAGE_SIZE:
                break
        self.meter.add("post_read", read, requests=requests)
        if newest is None:
            return since
        return stamp(min(newest, self.clock()))  # a post dated in the future must not hide the ones before it

    def _own_posts(self, found: dict[str, Mention], since: str | None) -> str | None:
        """Read the brand's own posts and replies newer than `since`; return the newest `indexedAt` read."""
        self._login()
        params = {"actor": self._did(), "filter": "posts_with_replies", "limit": PAGE_SIZE}
        feed = _dump(self._api("getAuthorFeed", self.client.app.bsky.feed.get_author_feed, params=params))
        newest = since
        read = 0
        for item in (_dump(i) for i in feed.get("feed") or []):
            post = _dump(item["post"])
            if item.get("reason") or (since and when(str(post["indexedAt"])) <= when(since)):
                continue  # a repost or a pin is not the brand writing; older posts were read before
            self._keep(found, post)
            read += 1
            if newest is None or when(str(post["indexedAt"])) > when(newest):
                newest = str(post["indexedAt"])
        self.meter.add("owned_read", read, requests=1)
        return newest

    # -- replying -------------------------------------------------------------------------------------
    def check_reply(self, text: str) -> int:
        """Refuse a reply over 300 graphemes (or 3000 UTF-8 bytes) before it is queued."""
        return check_post_text(text)

    def reply_record(self, mention: Mention, text: str) -> dict[str, Any]:
        """The `app.bsky.feed.post` record answering `mention`: root from the parent's own reply ref."""
        post = mention.raw.get("post") or {}
        parent = {"uri": mention.external_id, "cid": str(mention.raw["cid"])}
        root = ((post.get("record") or {}).get("reply") or {}).get("root") or parent
        dids = {mention.author_handle.lower(): str(mention.raw["author_did"])}
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp(self.clock()),
                                  "reply": {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent}}
        facets = facets_for(text, dids)
        if facets:
            record["facets"] = facets
        langs = (post.get("record") or {}).get("langs")
        if langs:
            record["langs"] = list(langs)[:3]
        return record

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post `text` as a reply record in `mention`'s thread.

        Bluesky has no idempotency header, so `idempotency_key` is only logged with the reply; a reply whose
        outcome a crash lost is found again by `find_reply` before the outbox sends it a second time.
        """
        self.check_reply(text)
        self._login()
        record = self.reply_record(mention, text)
        data = {"repo": self._did(), "collection": "app.bsky.feed.post", "record": record}
        out = _dump(self._api("createRecord", self.client.com.atproto.repo.create_record, data=data))
        self.meter.add("reply", 1)
        log.info("bluesky %s: replied to %s as %s (outbox key %s)", self.name, mention.external_id, out["uri"],
                 idempotency_key or "-")
        return PostedReply(external_id=str(out["uri"]), url=post_url(str(out["uri"]), self._handle or "me"),
                           posted_at=when(record["createdAt"]), raw={"record": record, "cid": out["cid"]})

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's own reply to `mention` in the thread (a reply of unknown outcome), or None."""
        thread = _dump(self._api("getPostThread", self.client.app.bsky.feed.get_post_thread,
                                 params={"uri": mention.external_id, "depth": 1}))
        me = self._did()
        for node in (thread.get("thread") or {}).get("replies") or []:
            post = node.get("post") or {}
            if (post.get("author") or {}).get("did") == me and (post.get("record") or {}).get("text") == text:
                return PostedReply(external_id=str(post["uri"]), url=post_url(str(post["uri"]), self._handle or "me"),
                                   posted_at=when(str(post["record"]["createdAt"])), raw={"post": post})
        return None

    def redacted(self) -> dict[str, Any]:
        """Describe the source without its password or session."""
        return {**super().redacted(), "service_url": self.service, "search": self.search,
                "brand_posts": self.brand_posts}
