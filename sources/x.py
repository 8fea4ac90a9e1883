"""X (API v2) through tweepy: mentions of the brand's account and keyword search, paged and resumable.

The cursor is JSON: per query kind the `since_id` to resume from, the `next_token` of an unfinished page run
(with the newest id of that run) and a `retry_at` while that endpoint is rate limited. Each page's posts and the
cursor that follows them are stored in one transaction, so a resumed run never asks for (or pays for) a post
twice. This is the only module that imports tweepy.
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
from sources.x_posts import X_MAX_WEIGHTED_CHARS, contains_url, normalise_post, snowflake_time, weighted_length

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
                 handles: Mapping[str, str] | None = None, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        self.clock = clock or (lambda: datetime.now(UTC))
        where = f"source {name!r}"
        self.handle: str | None = str(options.get("handle") or (handles or {}).get("x") or "").lstrip("@") or None
        self.user_id: str | None = str(options["user_id"]) if options.get("user_id") else None
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
        return {**super().redacted(), "kinds": self.kinds, "handle": self.handle, "can_write": self.can_write}

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
        if self.user_id or state.get("user_id"):
            return str(self.user_id or state["user_id"])
        body = self._get(f"/2/users/by/username/{self.handle}", {"user.fields": "username"}, "user lookup")
        self.meter.add("user_read", 1)
        data = body.get("data")
        if not isinstance(data, dict) or not str(data.get("id", "")).isdigit():
            raise MalformedResponse("X user lookup: no user id in the response")
        state["user_id"] = str(data["id"])
        return state["user_id"]

    # -- polling ------------------------------------------------------------------------------------------
    def poll(self, cursor: str | None) -> Batch:
        """Fetch new posts for each query kind after `cursor`; rate-limited kinds wait in the cursor."""
        state = _load_cursor(cursor, self.name)
        if state.get("fatal"):
            raise FatalSourceError(state["fatal"])
        now = self.clock()
        found: dict[str, Mention] = {}
        progress = {"pages": 0}
        errors: list[SourceError] = []
        waiting: list[datetime] = []
        for kind in self.kinds:
            kind_state = state["kinds"].setdefault(kind, {})
            retry_at = kind_state.get("retry_at")
            if retry_at and datetime.fromisoformat(retry_at) > now:
                waiting.append(datetime.fromisoformat(retry_at))
                continue
            kind_state.pop("retry_at", None)
            try:
                self._poll_kind(kind, kind_state, state, found, progress)
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
                log.warning("source %s: X %s failed: %s", self.name, kind, exc)
                errors.append(exc)
        if not progress["pages"]:
            if waiting and all(isinstance(e, RateLimited) for e in errors):
                raise RateLimited(min(waiting), f"X {', '.join(self.kinds)} rate limited")
            if errors:
                raise errors[0]
        cost = self.meter.pending_cost_usd()
        log.info("source %s: %d posts from X, estimated spend $%.3f", self.name, len(found), cost)
        exhausted = not any(s.get("next_token") for s in state["kinds"].values())
        return Batch(tuple(found.values()), json.dumps(state, sort_keys=True), exhausted=exhausted)

    def _poll_kind(self, kind: str, ks: dict[str, Any], state: dict[str, Any], found: dict[str, Mention],
                   progress: dict[str, int]) -> None:
        """Read up to max_pages pages of one kind, advancing `ks` (and `progress`) after each page."""
        user_id = self._resolve_user_id(state) if (self.handle or self.user_id) else None
        first_run = not ks.get("since_id") and not ks.get("next_token")
        pages_allowed = self.backfill_pages if first_run else self.max_pages
        pages = 0
        stale_retried = False
        while pages < pages_allowed:
            route = f"/2/users/{user_id}/mentions" if kind == "mentions" else "/2/tweets/search/recent"
            params: dict[str, Any] = {"max_results": self.max_results, "post.fields": POST_FIELDS,
                                      "expansions": EXPANSIONS, "user.fields": USER_FIELDS}
            if kind == "search":
                params["query"] = self.search_query
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
                ks.clear()
                stale_retried, first_run, pages_allowed = True, True, self.backfill_pages
                continue
            page = self._normalise_page(body, kind, user_id)
            self.meter.add("owned_read" if kind == "mentions" else "post_read", page[1])
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
            _finish_run(ks)
            return
        if first_run:
            _finish_run(ks)  # a first poll does not page back through the week: it starts from the newest post

    def _normalise_page(self, body: Mapping[str, Any], kind: str, user_id: str | None) -> tuple[list[Mention], int]:
        """Normalise one page; return its mentions and the number of posts X bills for it."""
        data = body.get("data") or []
        includes = body.get("includes") or {}
        if not isinstance(data, list) or not isinstance(includes, dict):
            raise MalformedResponse(f"X {kind}: data must be a list of posts")
        users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)}
        included = [p for p in (includes.get("posts") or includes.get("tweets") or []) if isinstance(p, dict)]
        quoted_authors = {str(p.get("id")): str(p.get("author_id")) for p in included}
        try:
            mentions = [normalise_post(post, users, quoted_authors, handle=self.handle, user_id=user_id,
                                       can_write=self.can_write, query_kind=kind) for post in data]
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise MalformedResponse(f"X {kind}: a post is not in the documented shape: {exc!r}") from None
        return mentions, len(data) + len(included)

    # -- replying -----------------------------------------------------------------------------------------
    def reply(self, mention: Mention, text: str) -> PostedReply:
        """Post `text` in reply to `mention`, after checking that X will take it."""
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


def _finish_run(ks: dict[str, Any]) -> None:
    """Close a page run: the next run starts after its newest post."""
    if ks.get("run_newest"):
        ks["since_id"] = ks["run_newest"]
    ks.pop("next_token", None)
    ks.pop("run_newest", None)


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[:2])[:300]


def _load_cursor(cursor: str | None, name: str) -> dict[str, Any]:
    if not cursor:
        return {"v": 1, "kinds": {}}
    try:
        state = json.loads(cursor)
    except json.JSONDecodeError:
        raise FatalSourceError(f"source {name!r}: the stored cursor is not X cursor JSON: {cursor[:40]!r}") from None
    if not isinstance(state, dict) or not isinstance(state.get("kinds"), dict):
        raise FatalSourceError(f"source {name!r}: the stored cursor is not an X cursor")
    return state


__all__ = ["KINDS", "XSource"]
