"""X (API v2) through tweepy: mentions of the brand's account and keyword search, paged and resumable.

The cursor is JSON: per query kind the `since_id` to resume from, the `next_token` of an unfinished page run
(with the newest id of that run) and a `retry_at` while that endpoint is rate limited. Each page's posts and the
cursor that follows them are stored in one transaction, so a resumed run never asks for (or pays for) a post
twice. With `options.brand_posts` the brand's own accounts' posts and replies are read too (GET
/2/users/:id/tweets, a cursor per account under `brand_posts`) and stored marked `raw["from_brand"]`. This is the
only module that imports tweepy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.query import QueryError, parse_query
from core.settings import Secrets
from sources.base import FatalSourceError, MalformedResponse, RateLimited, RetriableError, Source, SourceError
from sources.reply_limits import ReplyRejected, check_reply_text
from sources.spend import X_PRICES_USD, UsageMeter, prices_from_options
from sources.x_posts import (
    X_MAX_WEIGHTED_CHARS,
    contains_url,
    find_reply_among,
    finish_run,
    load_cursor,
    normalise_page,
    snowflake_time,
    weighted_length,
)

log = logging.getLogger(__name__)

KINDS = ("mentions", "search")
#: Fields the product needs, named as X API 2.167 names them (post.fields, referenced_posts).
#: `note_post` carries the full text of posts longer than 280 characters.
POST_FIELDS = "conversation_id,created_at,entities,lang,note_post,public_metrics,reply_settings"
EXPANSIONS = "author_id,referenced_posts"
USER_FIELDS = "name,public_metrics,username,verified,verified_type"
#: Problem types that mean a looked-up post is no longer there for us.
_GONE_PROBLEMS = ("/resource-not-found", "/not-authorized-for-resource")
#: When a 429 carries no reset header: X's rate-limit windows are 15 minutes.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)
#: The query kind of the brand's own posts (`options.brand_posts`), read per account.
BRAND_POSTS = "brand_posts"
#: A lost reply is looked for among this many pages (100 posts each) of the account's posts since the one answered.
FIND_REPLY_PAGES = 3


class _TimeoutAdapter(HTTPAdapter):
    """Give every request a timeout; tweepy's session has none."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout_s
        return super().send(request, **kwargs)


class _StaleSinceId(FatalSourceError):
    """X refused a since_id that fell out of its search window."""


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class XSource(Source):
    """Poll X for a brand's mentions and keyword matches; reply where X allows an API reply."""

    network = "x"

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], query: str | None = None,
                 handles: Mapping[str, str] | None = None, accounts: Mapping[str, Sequence[str]] | None = None,
                 secrets: Secrets | None = None, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        self.clock = clock or (lambda: datetime.now(UTC))
        where = f"source {name!r}"
        self.handle: str | None = str(options.get("handle") or (handles or {}).get("x") or "").lstrip("@") or None
        self.user_id: str | None = str(options["user_id"]) if options.get("user_id") else None
        #: Every X account of the brand, the one brandmon posts from first: all of them count as the brand.
        named = options.get("brand_handles") or (accounts or {}).get("x") or []
        listed = [str(h).lstrip("@") for h in ([named] if isinstance(named, str) else named) if str(h).strip("@ ")]
        self.accounts = list(dict.fromkeys([*([self.handle] if self.handle else []), *listed]))
        self.brand_posts = bool(options.get("brand_posts", False))
        if self.brand_posts and not self.accounts:
            raise FatalSourceError(f"{where}: options.brand_posts needs the brand's X accounts: set brands[].handles.x")
        default_kinds = list(KINDS) if (self.handle or self.user_id) else ["search"]
        self.kinds = [str(k) for k in options.get("kinds", default_kinds)]
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise FatalSourceError(f"{where}: options.kinds must be a non-empty subset of {list(KINDS)}")
        if "mentions" in self.kinds and not (self.handle or self.user_id):
            raise FatalSourceError(f"{where}: mentions need the brand's X account: set brands[].handles.x")
        self.max_results = int(options.get("max_results", 100))
        if not 10 <= self.max_results <= 100:
            raise FatalSourceError(f"{where}: options.max_results must be between 10 and 100")
        self.max_pages = int(options.get("max_pages_per_poll", 5))
        #: The first poll reads this many pages and then starts from the newest post, not the week's backlog.
        self.backfill_pages = int(options.get("backfill_pages", 1))
        #: Deletion sweep (X's developer terms: deleted posts must go): how often, and how many stored posts a run.
        self.sweep_interval_s = float(options.get("sweep_interval_s", 6 * 3600))
        self.sweep_batch = int(options.get("sweep_batch", 100))
        try:
            self.meter = UsageMeter(prices_from_options(X_PRICES_USD, options.get("prices"), where=where))
            brand_query = parse_query(str(options.get("query") or query or ""))
        except (ValueError, QueryError) as exc:
            raise FatalSourceError(f"{where}: {exc}") from None
        self.search_query: str | None = None
        if "search" in self.kinds:
            extra = []
            if options.get("exclude_retweets", True):
                extra.append("-is:retweet")
            if "mentions" in self.kinds and self.handle and options.get("search_excludes_mentions", True):
                extra.append(f"-@{self.handle}")  # those arrive through the cheaper owned read
            self.search_query = brand_query.to_x(extra=" ".join(extra))
            if len(self.search_query) > 512:
                raise FatalSourceError(
                    f"{where}: the X search query is {len(self.search_query)} characters; X allows 512")
        secrets = secrets if secrets is not None else Secrets.from_env()
        oauth1 = [_secret(getattr(secrets, f"x_{k}")) for k in
                  ("consumer_key", "consumer_secret", "access_token", "access_token_secret")]
        bearer = _secret(secrets.x_bearer_token)
        self.can_write = all(oauth1)
        self.read_user_auth = not bearer
        if not bearer and not self.can_write:
            raise FatalSourceError(f"{where}: no X credentials: set BRANDMON_X_BEARER_TOKEN, or the four "
                                   "BRANDMON_X_CONSUMER_KEY/_SECRET and BRANDMON_X_ACCESS_TOKEN/_SECRET variables")
        self.client = tweepy.Client(bearer_token=bearer, consumer_key=oauth1[0], consumer_secret=oauth1[1],
                                    access_token=oauth1[2], access_token_secret=oauth1[3],
                                    return_type=dict, wait_on_rate_limit=False)
        self.client.session.mount("https://", _TimeoutAdapter(float(options.get("timeout_s", 20.0))))

    def redacted(self) -> dict[str, Any]:
        """Describe the source for logs, with nothing secret in it."""
        return {**super().redacted(), "kinds": self.kinds, "handle": self.handle, "can_write": self.can_write,
                "brand_posts": self.accounts if self.brand_posts else []}

    # -- HTTP ---------------------------------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str, *, replying: bool = False) -> Iterator[None]:
        """Turn tweepy's and requests' errors into the three kinds of source error."""
        try:
            yield
        except tweepy.TooManyRequests as exc:
            reset = exc.reset_time
            retry_at = datetime.fromtimestamp(reset, UTC) if reset else self.clock() + DEFAULT_RATE_LIMIT_WAIT
            raise RateLimited(max(retry_at, self.clock()), f"X {what}: 429 Too Many Requests") from None
        except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
            if replying and isinstance(exc, tweepy.Forbidden):
                raise ReplyRejected(f"X refused the reply: {_first_line(exc)}") from None
            raise FatalSourceError(f"source {self.name!r}: X {what}: {_first_line(exc)}; check the X "
                                   "credentials and the app's access level, then `brandmon sources enable`") from None
        except tweepy.BadRequest as exc:
            if "since_id" in str(exc):
                raise _StaleSinceId(str(exc)) from None
            raise FatalSourceError(f"source {self.name!r}: X {what} refused the request: {_first_line(exc)}") from None
        except tweepy.NotFound as exc:
            if replying:
                raise ReplyRejected(f"X {what}: the post is gone: {_first_line(exc)}") from None
            raise FatalSourceError(f"source {self.name!r}: X {what}: {_first_line(exc)}") from None
        except tweepy.TwitterServerError as exc:
            raise RetriableError(f"X {what}: {_first_line(exc)}") from None
        except tweepy.HTTPException as exc:
            raise RetriableError(f"X {what}: unexpected answer {_first_line(exc)}") from None
        except requests.JSONDecodeError as exc:
            if replying:  # X took the request; posting again could post twice
                raise ReplyRejected(f"X answered the reply with something that is not JSON ({exc.msg}); check the "
                                    "brand's account before posting it again") from None
            raise MalformedResponse(f"X {what}: the response is not JSON ({exc.msg})") from None
        except requests.RequestException as exc:
            raise RetriableError(f"X {what}: {type(exc).__name__}") from None

    def _get(self, route: str, params: dict[str, Any], what: str) -> dict[str, Any]:
        with self._errors(what):
            response = self.client.request("GET", route, params=params, user_auth=self.read_user_auth)
            body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("data", []), (list, dict)):
            raise MalformedResponse(f"X {what}: the response is not an API v2 object")
        return body

    # -- deletion sweep -----------------------------------------------------------------------------------
    def deleted_among(self, external_ids: Sequence[str]) -> set[str]:
        """Return which of these posts X says are gone (deleted, or hidden by a suspension), 100 per lookup.

        A post X answers with is kept; one named in `errors` as not found or not authorised is gone; one X says
        nothing about is kept until the next run (never purge on a guess).
        """
        gone: set[str] = set()
        ids = [str(i) for i in external_ids if str(i).isdigit()]
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            body = self._get("/2/tweets", {"ids": ",".join(chunk)}, "deletion check")
            present = {str(p.get("id")) for p in body.get("data") or [] if isinstance(p, Mapping)}
            self.meter.add("post_read", len(present))
            for problem in body.get("errors") or []:
                if not isinstance(problem, Mapping):
                    continue
                kind = str(problem.get("type", ""))
                resource = str(problem.get("resource_id") or problem.get("value") or "")
                if resource in chunk and resource not in present and kind.endswith(_GONE_PROBLEMS):
                    gone.add(resource)
        return gone

    def _resolve_user_id(self, state: dict[str, Any]) -> str:
        """Return the id of the account brandmon posts from (configured, in the cursor, or looked up once)."""
        if not (self.user_id or state.get("user_id")):
            state["user_id"] = self._lookup_user_id(str(self.handle))
        self.user_id = str(self.user_id or state["user_id"])
        return self.user_id

    def _lookup_user_id(self, username: str) -> str:
        body = self._get(f"/2/users/by/username/{username}", {"user.fields": "username"}, "user lookup")
        self.meter.add("user_read", 1)
        data = body.get("data")
        if not isinstance(data, dict) or not str(data.get("id", "")).isdigit():
            raise MalformedResponse("X user lookup: no user id in the response")
        return str(data["id"])

    def _account_id(self, account: str, ks: dict[str, Any], state: dict[str, Any]) -> str:
        """Return the user id of one of the brand's accounts, kept in that account's cursor once looked up."""
        if not ks.get("user_id"):
            posting = self.handle and account.lower() == self.handle.lower()
            ks["user_id"] = self._resolve_user_id(state) if posting else self._lookup_user_id(account)
        return str(ks["user_id"])

    def _brand_ids(self, state: Mapping[str, Any]) -> set[str]:
        ids = {str(ks["user_id"]) for ks in state.get(BRAND_POSTS, {}).values() if ks.get("user_id")}
        return ids | {i for i in (self.user_id, state.get("user_id")) if i}

    # -- polling ------------------------------------------------------------------------------------------
    def poll(self, cursor: str | None) -> Batch:
        """Fetch new posts for each query kind after `cursor`; rate-limited kinds wait in the cursor."""
        state = load_cursor(cursor, self.name)
        if state.get("fatal"):
            raise FatalSourceError(state["fatal"])
        now = self.clock()
        found: dict[str, Mention] = {}
        progress = {"pages": 0}
        errors: list[SourceError] = []
        waiting: list[datetime] = []
        lanes: list[tuple[str, dict[str, Any], str | None]] = [(k, state["kinds"].setdefault(k, {}), None)
                                                                for k in self.kinds]
        if self.brand_posts:
            own = state.setdefault(BRAND_POSTS, {})
            lanes += [(BRAND_POSTS, own.setdefault(account.lower(), {}), account) for account in self.accounts]
        for kind, kind_state, account in lanes:
            retry_at = kind_state.get("retry_at")
            if retry_at and datetime.fromisoformat(retry_at) > now:
                waiting.append(datetime.fromisoformat(retry_at))
                continue
            kind_state.pop("retry_at", None)
            try:
                self._poll_kind(kind, kind_state, state, found, progress, account=account)
            except RateLimited as exc:
                kind_state["retry_at"] = exc.retry_at.isoformat()
                waiting.append(exc.retry_at)
                errors.append(exc)
            except FatalSourceError as exc:
                if not progress["pages"]:
                    raise
                state["fatal"] = str(exc)  # keep what was read (and paid for); stop on the next poll
                break
            except RetriableError as exc:
                log.warning("source %s: X %s failed: %s", self.name, account or kind, exc)
                errors.append(exc)
        if not progress["pages"]:
            if waiting and all(isinstance(e, RateLimited) for e in errors):
                raise RateLimited(min(waiting), f"X {', '.join(self.kinds)} rate limited")
            if errors:
                raise errors[0]
        cost = self.meter.pending_cost_usd()
        log.info("source %s: %d posts from X, estimated spend $%.3f", self.name, len(found), cost)
        exhausted = not any(ks.get("next_token") for _, ks, _ in lanes)
        return Batch(tuple(found.values()), json.dumps(state, sort_keys=True), exhausted=exhausted)

    def _poll_kind(self, kind: str, ks: dict[str, Any], state: dict[str, Any], found: dict[str, Mention],
                   progress: dict[str, int], *, account: str | None = None) -> None:
        """Read up to max_pages pages of one kind, advancing `ks` (and `progress`) after each page."""
        user_id = self._resolve_user_id(state) if (self.handle or self.user_id) else None
        if kind == "search":
            route = "/2/tweets/search/recent"
        elif kind == "mentions":
            route = f"/2/users/{user_id}/mentions"
        else:  # the brand's own posts and replies, one account at a time
            route = f"/2/users/{self._account_id(str(account), ks, state)}/tweets"
        first_run = not ks.get("since_id") and not ks.get("next_token")
        pages_allowed = self.backfill_pages if first_run else self.max_pages
        pages = 0
        stale_retried = False
        while pages < pages_allowed:
            params: dict[str, Any] = {"max_results": self.max_results, "post.fields": POST_FIELDS,
                                      "expansions": EXPANSIONS, "user.fields": USER_FIELDS}
            if kind == "search":
                params["query"] = self.search_query
            elif kind == BRAND_POSTS:
                params["exclude"] = "retweets"  # a repost answers nobody; it is not paid for either
            if ks.get("since_id"):
                params["since_id"] = ks["since_id"]
            if ks.get("next_token"):
                params["pagination_token"] = ks["next_token"]
            try:
                body = self._get(route, params, kind)
            except _StaleSinceId:
                if stale_retried:
                    raise
                log.warning("source %s: X %s since_id %s is too old; starting from now", self.name, kind,
                            ks.get("since_id"))
                for key in ("since_id", "next_token", "run_newest"):
                    ks.pop(key, None)  # an account's user_id stays
                stale_retried, first_run, pages_allowed = True, True, self.backfill_pages
                continue
            page = normalise_page(body, kind, handle=self.handle, user_id=user_id, can_write=self.can_write,
                                  brand_ids=self._brand_ids(state), brand_handles={a.lower() for a in self.accounts},
                                  all_brand=kind == BRAND_POSTS)
            self.meter.add("post_read" if kind == "search" else "owned_read", page[1])
            for mention in page[0]:
                found.setdefault(mention.external_id, mention)
            meta = body.get("meta") or {}
            if not ks.get("next_token"):
                ks["run_newest"] = meta.get("newest_id")
            pages += 1
            progress["pages"] += 1
            if meta.get("next_token"):
                ks["next_token"] = meta["next_token"]
                continue
            finish_run(ks)
            return
        if first_run:
            finish_run(ks)  # a first poll does not page back through the week: it starts from the newest post

    # -- replying -----------------------------------------------------------------------------------------
    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post `text` in reply to `mention`, after checking that X will take it.

        X takes no idempotency key (`idempotency_key` is unused): a lost outcome is settled through `find_reply`.
        """
        if mention.network != "x":
            raise ReplyRejected(f"source {self.name!r} answers X posts, not {mention.network} ones")
        if mention.reply_path != ReplyPath.API:
            raise ReplyRejected(f"X will not take an API reply to this post: {mention.reply_path_reason}")
        if not self.can_write:
            raise ReplyRejected("no X user credentials to post replies (BRANDMON_X_ACCESS_TOKEN and friends)")
        check_reply_text(text, limit=X_MAX_WEIGHTED_CHARS, network="X", measure=weighted_length)
        with self._errors("reply", replying=True):
            body = self.client.create_tweet(text=text, in_reply_to_tweet_id=mention.external_id, user_auth=True)
        self.meter.add("post_write_url" if contains_url(text) else "post_write", 1)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not str(data.get("id", "")).isdigit():
            # the post may well exist: a retry could post it twice, so this is final
            raise ReplyRejected("X answered the reply without a post id; check the brand's account before "
                                "posting it again")
        post_id = str(data["id"])
        handle = self.handle or "i"
        return PostedReply(external_id=post_id, url=f"https://x.com/{handle}/status/{post_id}",
                           posted_at=snowflake_time(post_id), raw=body)

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's reply to `mention` among the posting account's posts since it (a reply of lost outcome).

        Reads GET /2/users/:id/tweets with `since_id` set to the post answered, newest first, up to
        `FIND_REPLY_PAGES` pages: a reply of that text whose `replied_to` reference is the post is the one.
        """
        if mention.network != "x" or not mention.external_id.isdigit() or not (self.handle or self.user_id):
            return None
        user_id = self._resolve_user_id({})
        params: dict[str, Any] = {"max_results": 100, "since_id": mention.external_id, "post.fields": POST_FIELDS,
                                  "expansions": "referenced_posts"}
        for _ in range(FIND_REPLY_PAGES):
            body = self._get(f"/2/users/{user_id}/tweets", params, "reply lookup")
            posts = [p for p in body.get("data") or [] if isinstance(p, Mapping)]
            self.meter.add("owned_read", len(posts))
            found = find_reply_among(posts, mention.external_id, text, handle=self.handle)
            if found is not None:
                return found
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                return None
            params["pagination_token"] = token
        return None


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[:2])[:300]


__all__ = ["BRAND_POSTS", "KINDS", "XSource"]
