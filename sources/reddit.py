"""Reddit through praw: keyword search, inbox username mentions and subreddit comment streams; replies; sweeps.

Every listing is read newest first, one request (up to 100 things) per kind per poll. The cursor is JSON: per
listing the newest creation time seen and the ids seen inside an overlap window (search indexes posts late), so
a re-poll emits nothing twice. With `options.brand_posts` each of the brand's accounts' comments and submissions
are read too (a cursor per account and listing under `brand_posts`), stored marked `raw["from_brand"]`. praw's
rate limiter spaces requests out; when Reddit's window is spent the poll raises `RateLimited` instead of
sleeping it out. This is the only module that imports praw.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import praw
import praw.exceptions
import prawcore
from praw.endpoints import API_PATH
from prawcore.sessions import FiniteRetryStrategy

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.query import QueryError, parse_query
from core.settings import Secrets
from core.settings.brands import community_of
from sources.base import FatalSourceError, MalformedResponse, RateLimited, RetriableError, Source, mark_brand_post
from sources.reddit_things import (
    REDDIT,
    REDDIT_MAX_REPLY_CHARS,
    is_gone,
    jsonable,
    load_cursor,
    normalise_thing,
    same_body,
    unseen,
)
from sources.reply_limits import ReplyRejected, check_reply_text
from sources.spend import UsageMeter

log = logging.getLogger(__name__)

KINDS = ("search", "mentions", "comments")
#: The brand's own listings read per account with `options.brand_posts`: its comments and its submissions.
BRAND_LISTINGS = ("comments", "submitted")
#: When a 429 says nothing about when to come back: Reddit's rate-limit window is ten minutes.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=10)
#: praw may pause this long to space requests out; a longer wait is handed to the scheduler instead.
MAX_INLINE_WAIT_S = 10.0
_REPLY_REFUSALS = {"THREAD_LOCKED", "TOO_OLD", "DELETED_COMMENT", "DELETED_LINK", "NOT_AUTHOR", "BANNED_FROM_SUBREDDIT",
                   "USER_REQUIRED", "SUBREDDIT_NOTALLOWED", "TOO_LONG", "NO_TEXT", "COMMENT_GUIDANCE_VALIDATION_FAILED"}


@dataclass(frozen=True)
class _NoInlineRetry(FiniteRetryStrategy):
    """prawcore retries nothing itself: a failed request is retried on the scheduler's next tick, with backoff."""

    retries: int = 0

    def _sleep_seconds(self) -> float | None:
        return None  # FiniteRetryStrategy would pause 2-4 s before a request when it has fewer than 2 retries


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _thing_data(thing: Any) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in vars(thing).items() if not k.startswith("_")}


def _kind_of(thing: Any) -> str:
    return "t3" if isinstance(thing, praw.models.Submission) else "t1"


class RedditSource(Source):
    """Poll Reddit for a brand's posts and comments; reply where the thread is open."""

    network = "reddit"

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], query: str | None = None,
                 handles: Mapping[str, str] | None = None, accounts: Mapping[str, Sequence[str]] | None = None,
                 communities: Mapping[str, Sequence[str]] | None = None, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        where = f"source {name!r}"
        self.clock = clock or (lambda: datetime.now(UTC))
        self.user_agent = str(options.get("user_agent") or "").strip()
        if not self.user_agent:
            raise FatalSourceError(f"{where}: options.user_agent is required; Reddit wants a unique one, e.g. "
                                   "'brandmon:kestrel-monitor:0.1 (by u/KestrelMobile_Support)'")
        self.kinds = [str(k) for k in options.get("kinds", ["search"])]
        if not self.kinds or any(k not in KINDS for k in self.kinds):
            raise FatalSourceError(f"{where}: options.kinds must be a non-empty subset of {list(KINDS)}")
        self.subreddits = [str(s).removeprefix("r/") for s in options.get("subreddits", [])]
        #: The brand's own subreddits (`brands[].communities.reddit`): their comments are all about the brand.
        self.own_subreddits = frozenset(str(s).removeprefix("r/").casefold()
                                        for s in (communities or {}).get("reddit", []))
        if "comments" in self.kinds and not self.subreddits:
            raise FatalSourceError(f"{where}: the comments kind needs options.subreddits to stream")
        self.limit = int(options.get("limit", 100))
        if not 1 <= self.limit <= 100:
            raise FatalSourceError(f"{where}: options.limit must be between 1 and 100 (one request per listing)")
        self.overlap_s = float(options.get("overlap_s", 900))
        #: A busy listing is paged (`after`) until it reaches what the cursor has seen, at most this many pages.
        self.max_pages = int(options.get("max_pages_per_poll", 10))
        if not 1 <= self.max_pages <= 100:
            raise FatalSourceError(f"{where}: options.max_pages_per_poll must be between 1 and 100")
        self.time_filter = str(options.get("time_filter", "week"))
        self.sweep_interval_s = float(options.get("sweep_interval_s", 3600))
        self.sweep_batch = int(options.get("sweep_batch", 500))
        try:
            self.brand_query = parse_query(str(options.get("query") or query or ""))
            self.search_query = self.brand_query.to_reddit() if "search" in self.kinds else None
        except QueryError as exc:
            raise FatalSourceError(f"{where}: {exc}") from None
        self.own_user = str(options.get("handle") or (handles or {}).get("reddit") or "").removeprefix("u/") or None
        #: Every Reddit account of the brand, the one brandmon replies from first: all of them count as the brand.
        named = options.get("brand_handles") or (accounts or {}).get("reddit") or []
        listed = [str(h).removeprefix("u/") for h in ([named] if isinstance(named, str) else named) if str(h).strip()]
        self.accounts = list(dict.fromkeys([*([self.own_user] if self.own_user else []), *listed]))
        self.brand_posts = bool(options.get("brand_posts", False))
        if self.brand_posts and not self.accounts:
            raise FatalSourceError(f"{where}: options.brand_posts needs the brand's Reddit accounts: set "
                                   "brands[].handles.reddit")
        self.meter = UsageMeter()
        secrets = secrets if secrets is not None else Secrets.from_env()
        client_id, client_secret = _secret(secrets.reddit_client_id), _secret(secrets.reddit_client_secret)
        if not client_id or not client_secret:
            raise FatalSourceError(f"{where}: set BRANDMON_REDDIT_CLIENT_ID and BRANDMON_REDDIT_CLIENT_SECRET")
        auth: dict[str, Any] = {}
        if secrets.reddit_refresh_token is not None:
            auth["refresh_token"] = _secret(secrets.reddit_refresh_token) or ""
        elif secrets.reddit_username is not None and secrets.reddit_password is not None:
            auth = {"username": _secret(secrets.reddit_username) or "",
                    "password": _secret(secrets.reddit_password) or ""}
        self.can_reply = bool(auth)
        if "mentions" in self.kinds and not auth:
            raise FatalSourceError(f"{where}: inbox mentions need an account: set BRANDMON_REDDIT_USERNAME and "
                                   "BRANDMON_REDDIT_PASSWORD (or BRANDMON_REDDIT_REFRESH_TOKEN)")
        self.reddit = praw.Reddit(client_id=client_id, client_secret=client_secret, user_agent=self.user_agent,
                                  check_for_async=False, check_for_updates=False,  # never phone PyPI
                                  timeout=int(options.get("timeout_s", 20)), **auth)
        cores: list[Any] = [self.reddit._core, self.reddit._read_only_core, self.reddit._authorized_core]
        for core in cores:
            if core is not None:
                core._retry_strategy_class = _NoInlineRetry

    def redacted(self) -> dict[str, Any]:
        """Describe the source for logs, with nothing secret in it."""
        return {**super().redacted(), "kinds": self.kinds, "subreddits": self.subreddits, "can_reply": self.can_reply,
                "brand_posts": self.accounts if self.brand_posts else []}

    # -- errors and rate limits ---------------------------------------------------------------------------
    def _retry_at(self, seconds: Any) -> datetime:
        try:
            return self.clock() + timedelta(seconds=max(1.0, float(seconds)))
        except (TypeError, ValueError):
            return self.clock() + DEFAULT_RATE_LIMIT_WAIT

    @contextmanager
    def _errors(self, what: str, *, replying: bool = False) -> Iterator[None]:
        """Turn prawcore's and praw's errors into the three kinds of source error."""
        try:
            yield
        except prawcore.TooManyRequests as exc:
            headers = exc.response.headers
            wait = exc.retry_after or headers.get("x-ratelimit-reset")
            raise RateLimited(self._retry_at(wait), f"Reddit {what}: 429 Too Many Requests") from None
        except prawcore.BadJSON:
            raise MalformedResponse(f"Reddit {what}: the response is not JSON") from None
        except prawcore.ServerError as exc:
            raise RetriableError(f"Reddit {what}: server error {exc.response.status_code}") from None
        except (prawcore.OAuthException, prawcore.InvalidToken, prawcore.Forbidden, prawcore.InsufficientScope) as exc:
            if replying and isinstance(exc, prawcore.Forbidden):
                raise ReplyRejected(f"Reddit refused the reply: {exc}") from None
            raise FatalSourceError(f"source {self.name!r}: Reddit {what}: {exc}; check the Reddit credentials "
                                   "and the app type, then `brandmon sources enable`") from None
        except (prawcore.NotFound, prawcore.Redirect) as exc:
            if replying:
                raise ReplyRejected(f"Reddit {what}: the post is gone: {exc}") from None
            raise FatalSourceError(f"source {self.name!r}: Reddit {what}: {exc} (a subreddit that does not "
                                   f"exist? {self.subreddits})") from None
        except prawcore.RequestException as exc:
            raise RetriableError(f"Reddit {what}: {type(exc.original_exception).__name__}") from None
        except prawcore.ResponseException as exc:
            raise RetriableError(f"Reddit {what}: unexpected status {exc.response.status_code}") from None
        except praw.exceptions.RedditAPIException as exc:
            kinds = {item.error_type for item in exc.items}
            if "RATELIMIT" in kinds:
                raise RateLimited(self.clock() + DEFAULT_RATE_LIMIT_WAIT, f"Reddit {what}: {exc}") from None
            if replying and kinds & _REPLY_REFUSALS:
                raise ReplyRejected(f"Reddit refused the {what}: {exc}") from None
            raise RetriableError(f"Reddit {what}: {exc}") from None
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedResponse(f"Reddit {what}: the response is not in the documented shape: {exc!r}") from None

    def _check_window(self) -> None:
        """Raise `RateLimited` rather than let praw sleep out a spent rate-limit window."""
        limiter = getattr(self.reddit._core, "_rate_limiter", None)
        next_ns = getattr(limiter, "next_request_timestamp_ns", None)
        if limiter is None or next_ns is None:
            return
        wait_s = (next_ns - time.monotonic_ns()) / 1e9
        if wait_s > MAX_INLINE_WAIT_S:
            raise RateLimited(self._retry_at(wait_s), "Reddit's rate-limit window is spent")

    # -- polling ------------------------------------------------------------------------------------------
    def _pages(self, kind: str, ks: dict[str, Any], *, account: str | None = None) -> list[Any]:
        """Fetch a listing newest first, paging with `after` until a page reaches the cursor (or is not full).

        The first poll of a listing (no cursor yet) reads one page and starts from there, as X's backfill does.
        """
        children, after = self._first_page(kind, account=account)
        if not ks.get("newest_utc"):
            return children
        seen = set(ks.get("seen") or {})
        cutoff = float(ks["newest_utc"]) - self.overlap_s
        pages = 1
        while after and len(children) >= pages * self.limit and pages < self.max_pages:
            last = children[-1]
            data = _thing_data(last)
            created = data.get("created_utc")
            if (f"{_kind_of(last)}_{data.get('id')}" in seen or not isinstance(created, (int, float))
                    or created < cutoff):
                return children
            self._check_window()
            more, after = self._first_page(kind, after=after, account=account)
            children += more
            pages += 1
        if after and pages >= self.max_pages and len(children) >= pages * self.limit:
            log.warning("source %s: the Reddit %s listing has more than %d new things; raise "
                        "options.max_pages_per_poll or poll more often", self.name, kind, pages * self.limit)
        return children

    def _first_page(self, kind: str, *, after: str | None = None,
                    account: str | None = None) -> tuple[list[Any], str | None]:
        """Fetch one page of a listing, newest first (after `after`); return its things and the next `after`.

        With `account`, `kind` is one of `BRAND_LISTINGS`: that account's own comments or submissions.
        """
        subreddits = "+".join(self.subreddits) or "all"
        params: dict[str, Any] = {"limit": self.limit}
        if after:
            params["after"] = after
        if account is not None:
            url = f"{API_PATH['user'].format(user=account)}{kind}/"
            params["sort"] = "new"
        elif kind == "search":
            url = API_PATH["search"].format(subreddit=subreddits)
            params |= {"q": self.search_query, "restrict_sr": subreddits != "all", "sort": "new", "syntax": "lucene",
                       "t": self.time_filter}
        elif kind == "mentions":
            url = API_PATH["mentions"]
        else:
            url = f"r/{subreddits}/comments/"
        listing = self.reddit.get(url, params=params)
        children = getattr(listing, "children", None)
        if not isinstance(children, list):
            raise MalformedResponse(f"Reddit {kind}: the response is not a listing")
        following = getattr(listing, "after", None)
        return children, (str(following) if following else None)

    def poll(self, cursor: str | None) -> Batch:
        """Read each listing newest first and return the things not seen before."""
        state = load_cursor(cursor, self.name)
        found: dict[str, Mention] = {}
        read_any = False
        lanes: list[tuple[str, dict[str, Any], str | None]] = [(k, state.setdefault(k, {}), None) for k in self.kinds]
        if self.brand_posts:
            own = state.setdefault("brand_posts", {})
            lanes += [(listing, own.setdefault(account.lower(), {}).setdefault(listing, {}), account)
                      for account in self.accounts for listing in BRAND_LISTINGS]
        brand = {a.lower() for a in self.accounts}
        for kind, ks, account in lanes:
            what = f"u/{account} {kind}" if account else kind
            self._check_window()
            with self._errors(what):
                things = [(_kind_of(t), _thing_data(t)) for t in self._pages(kind, ks, account=account)]
            self.meter.add("listing", len(things))
            read_any = True
            for thing_kind, data in unseen(ks, things, overlap_s=self.overlap_s, name=self.name, kind=what):
                try:
                    mention = normalise_thing(thing_kind, data, can_reply=self.can_reply, own_user=self.own_user,
                                              query_kind="brand_posts" if account else kind)
                except (KeyError, ValueError, TypeError) as exc:
                    raise MalformedResponse(f"Reddit {what}: a thing is not in the documented shape: {exc!r}") from None
                if mention is None:
                    continue
                if account or mention.author_handle.lower() in brand:
                    mention = mark_brand_post(mention)  # the brand's own post or reply: never a customer's
                elif kind == "comments" and not self.brand_query.matches(mention.text) and (
                        community_of(self.network, mention.url) not in self.own_subreddits):
                    continue  # a comment stream is filtered by the brand query, except in the brand's own subreddits
                found.setdefault(mention.external_id, mention)
        if read_any:
            log.info("source %s: %d new things from Reddit", self.name, len(found))
        return Batch(tuple(found.values()), json.dumps(state, sort_keys=True), exhausted=True)

    # -- replying -----------------------------------------------------------------------------------------
    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post `text` as a comment under `mention`, unless the thread takes no replies.

        Reddit's API takes no idempotency key (`idempotency_key` is accepted and unused); a reply whose outcome
        was lost is found with `find_reply` instead of being posted again.
        """
        if mention.network != "reddit":
            raise ReplyRejected(f"source {self.name!r} answers Reddit posts, not {mention.network} ones")
        if mention.reply_path != ReplyPath.API:
            raise ReplyRejected(f"Reddit will not take a reply to this post: {mention.reply_path_reason}")
        if not self.can_reply:
            raise ReplyRejected("no Reddit account credentials to reply (BRANDMON_REDDIT_USERNAME and _PASSWORD)")
        check_reply_text(text, limit=REDDIT_MAX_REPLY_CHARS, network="Reddit")
        kind, _, thing_id = mention.external_id.partition("_")
        self._check_window()
        with self._errors("reply", replying=True):
            parent = self.reddit.comment(id=thing_id) if kind == "t1" else self.reddit.submission(id=thing_id)
            posted = parent.reply(text)
        self.meter.add("reply", 1)
        if posted is None:
            raise ReplyRejected("Reddit accepted the reply but did not create it (removed by the subreddit's "
                                "filters?); check the thread")
        try:
            return _posted(_thing_data(posted), mention)
        except (KeyError, TypeError, ValueError) as exc:  # posted, but not described: a retry would post twice
            raise ReplyRejected(f"Reddit posted the reply but answered in an unknown shape ({exc!r}); "
                                "check the thread before posting again") from None

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's reply among the direct replies to `mention`, newest first (a reply of lost outcome).

        A comment is refreshed with its replies (GET /comments/:link/_/:id), a submission read with its comments;
        a reply by one of the brand's accounts with the same body is the one. Without a configured account
        (brands[].handles.reddit) there is no telling whose a reply is, so None.
        """
        kind, _, thing_id = mention.external_id.partition("_")
        if mention.network != "reddit" or kind not in ("t1", "t3") or not self.accounts:
            return None
        self._check_window()
        with self._errors("reply lookup"):
            try:
                children = self._direct_replies(kind, thing_id)
            except (prawcore.NotFound, praw.exceptions.ClientException):
                return None  # the post is gone: nothing to find, and a reply to it will be refused
        self.meter.add("listing", len(children))
        brand = {a.lower() for a in self.accounts}
        for data in children:
            if str(data.get("author") or "").lower() in brand and same_body(data.get("body"), text):
                return _posted(data, mention)
        return None

    def _direct_replies(self, kind: str, thing_id: str) -> list[dict[str, Any]]:
        """Return the direct replies to a comment (t1) or submission (t3), newest first, as Reddit's JSON."""
        if kind == "t1":
            parent: Any = self.reddit.comment(id=thing_id)
            parent.reply_sort = "new"
            parent.refresh()
            replies = parent.replies
        else:
            parent = self.reddit.submission(id=thing_id)
            parent.comment_sort = "new"
            replies = parent.comments
        replies.replace_more(limit=0)  # what "load more" hides is older than a reply just posted
        return [_thing_data(child) for child in replies]

    # -- deletion sweep -----------------------------------------------------------------------------------
    def deleted_among(self, external_ids: Sequence[str]) -> set[str]:
        """Return which of these things are deleted, removed or gone on Reddit (100 per request)."""
        gone: set[str] = set()
        for start in range(0, len(external_ids), 100):
            chunk = list(external_ids[start : start + 100])
            self._check_window()
            with self._errors("deletion check"):
                present = {t.fullname: (_kind_of(t), _thing_data(t)) for t in self.reddit.info(fullnames=chunk)}
            self.meter.add("info", len(chunk))
            for fullname in chunk:
                found = present.get(fullname)
                if found is None or is_gone(found[1]):
                    gone.add(fullname)
        return gone


def _posted(data: Mapping[str, Any], mention: Mention) -> PostedReply:
    """Describe a comment the brand posted under `mention`; KeyError/TypeError/ValueError if it is not described."""
    link = str(data.get("link_id") or mention.conversation_id or "")
    url = f"{REDDIT}{data['permalink']}" if data.get("permalink") else \
        f"{REDDIT}/comments/{link.removeprefix('t3_')}/_/{data['id']}/"
    return PostedReply(external_id=f"t1_{data['id']}", url=url,
                       posted_at=datetime.fromtimestamp(float(data["created_utc"]), UTC), raw=dict(data))


__all__ = ["BRAND_LISTINGS", "KINDS", "RedditSource"]
