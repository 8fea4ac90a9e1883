"""Mastodon through Mastodon.py: mention notifications, hashtag/keyword search, the brand's own statuses; replies.

One source reads one instance; a brand on several instances gets one source per instance, each with the token of
its instance (`BRANDMON_MASTODON_ACCESS_TOKEN` holds one token, or `host=token` pairs for several). The cursor is
JSON: the newest mention-notification id (`min_id` next poll), the newest status id per hashtag timeline, per
search and of the brand's own statuses. Keyword search (`/api/v2/search`) and hashtag timelines come from the
brand query through `sources/mastodon_query.py` (its limits stated there); a hashtag timeline the instance's
`timelines_access` disables is skipped, and a search the instance refuses is turned off for the run. With
`options.brand_posts` the brand's own statuses are kept, marked `raw["from_brand"]` and blocked for replies.
A status is stored under its ActivityPub `uri`, the same through every instance (`sources/mastodon_status.py`),
so one seen through two of the brand's instances is stored once; replies name its local id on this instance.
Replies go out with `in_reply_to_id`, the visibility of the status answered (never wider), the outbox row's key
as the `Idempotency-Key` header, and the instance's own character limit from its instance info; a reply the
instance refuses (403, 404, 422) is rejected with the instance's reason, never retried. A 429 becomes
`RateLimited` at `X-RateLimit-Reset`. This is the only module importing Mastodon.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.redact import register_secrets
from core.settings import Secrets
from sources.base import (
    BRAND_POST_REASON,
    FatalSourceError,
    MalformedResponse,
    RateLimited,
    RetriableError,
    Source,
)
from sources.mastodon_query import DEFAULT_MAX_SEARCHES, translate
from sources.mastodon_status import (
    StatusKeys,
    aware,
    html_to_text,
    instance_token,
    jsonable,
    local_ref,
    newer,
    reply_visibility,
    speaks_to,
)
from sources.reply_limits import ReplyRejected, check_reply_text
from sources.spend import UsageMeter

log = logging.getLogger(__name__)

MASTODON = "mastodon"
#: The stock Mastodon limit, used only when the instance info does not say.
DEFAULT_MAX_CHARS = 500
PAGE_SIZE = 40
#: What an instance answers a reply it will never accept with: not permitted, gone or hidden, invalid.
_REFUSED = {403, 404, 422}
#: Parents looked up per poll (GET /api/v1/statuses/:id) for replies whose parent this source never read.
MAX_PARENT_LOOKUPS = 20

__all__ = ["MASTODON", "MastodonSource", "html_to_text", "instance_token", "reply_visibility"]


class MastodonSource(Source):
    """Poll one Mastodon instance for a brand's mentions; reply in the thread with the same visibility."""

    network = MASTODON

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], query: str | None = None,
                 handles: Mapping[str, str] | None = None, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        where = f"source {name!r}"
        self.clock = clock or (lambda: datetime.now(UTC))
        self.instance_url = str(options.get("instance_url") or "").rstrip("/")
        if not self.instance_url:
            raise FatalSourceError(f"{where}: options.instance_url is required, e.g. https://mastodon.social")
        search = options.get("search", True)
        wanted = query if search is True else (str(search) if search else None)
        try:
            self.plan = translate(wanted, max_searches=int(options.get("max_searches", DEFAULT_MAX_SEARCHES)))
        except ValueError as exc:  # QueryError is a ValueError
            raise FatalSourceError(f"{where}: options.search or options.max_searches: {exc}") from None
        if self.plan.skipped:
            log.info("mastodon %s: not searched (see sources/mastodon_query.py): %s", name, list(self.plan.skipped))
        tags = [str(t).lstrip("#") for t in options.get("hashtags") or ()] + list(self.plan.hashtags)
        self.hashtags = list(dict.fromkeys(tags))
        self.reply_visibility = options.get("reply_visibility")
        self.brand_posts = bool(options.get("brand_posts", False))
        self._instance: dict[str, Any] | None = None
        self._me: str | None = None
        self._search_refused = False
        self.keys = StatusKeys(self.instance_url)
        self.meter = UsageMeter()
        secret = secrets.mastodon_access_token if secrets is not None else None
        if secret is None:
            raise FatalSourceError(f"{where}: set BRANDMON_MASTODON_ACCESS_TOKEN (an access token with "
                                   "read and write:statuses scopes from the instance's Development settings)")
        token = instance_token(secret.get_secret_value(), self.instance_url)
        if token is None:
            raise FatalSourceError(f"{where}: BRANDMON_MASTODON_ACCESS_TOKEN lists host=token pairs but none for "
                                   f"{urlsplit(self.instance_url).netloc}")
        register_secrets([token])
        self.api = Mastodon(access_token=token, api_base_url=self.instance_url, version_check_mode="none",
                            ratelimit_method="throw", request_timeout=30,
                            user_agent=str(options.get("user_agent") or "brandmon"))
        self.api.session.hooks["response"].append(self._remember)

    @classmethod
    def required_secrets(cls) -> tuple[str, ...]:
        """The environment variables this source cannot run without."""
        return ("BRANDMON_MASTODON_ACCESS_TOKEN",)

    @classmethod
    def reads(cls) -> tuple[str, ...]:
        """The API reads one poll makes, for `brandmon sources`."""
        return ("GET /api/v1/notifications?types[]=mention", "GET /api/v2/search (keywords)",
                "GET /api/v1/timelines/tag/:tag", "GET /api/v1/accounts/:id/statuses (own)",
                "GET /api/v2/instance (char limit, timelines access)")

    # -- errors ---------------------------------------------------------------------------------------
    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """Keep the last answer's X-RateLimit-Reset (a requests response hook)."""
        self._last_reset = response.headers.get("X-RateLimit-Reset")

    def _reset_at(self) -> datetime | None:
        """The instance's X-RateLimit-Reset (an ISO time, or epoch seconds on some servers)."""
        value = getattr(self, "_last_reset", None)
        if not value:
            return None
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except ValueError:
            try:
                return aware(value)
            except ValueError:
                return None

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MastodonRatelimitError as exc:
            retry_at = self._reset_at() or self.clock() + timedelta(minutes=5)
            raise RateLimited(retry_at, f"mastodon {what}: rate limited") from exc
        except MastodonUnauthorizedError as exc:
            raise FatalSourceError(f"mastodon {what}: the access token was refused ({exc.args[1:2]})") from exc
        except (MastodonNetworkError, MastodonServerError) as exc:
            raise RetriableError(f"mastodon {what}: {type(exc).__name__} {exc.args[1:3]}") from exc
        except MastodonError as exc:
            if "JSON" in str(exc.args[:1]) or "json" in str(exc.args[:1]):
                raise MalformedResponse(f"mastodon {what}: the answer is not JSON") from exc
            raise RetriableError(f"mastodon {what}: {type(exc).__name__}: {exc.args[1:3]}") from exc
        except ValueError as exc:
            raise MalformedResponse(f"mastodon {what}: the answer is not JSON ({exc})") from exc

    # -- the instance and the account -----------------------------------------------------------------
    def instance(self) -> dict[str, Any]:
        """The instance info (`/api/v2/instance`), read once."""
        if self._instance is None:
            info = self._call("instance", self.api.instance_v2)
            self._instance = dict(info) if isinstance(info, Mapping) else {}
        return self._instance

    def me(self) -> str:
        """The brand account's id on this instance, read once."""
        if self._me is None:
            self._me = str(self._call("verify_credentials", self.api.account_verify_credentials)["id"])
        return self._me

    def _tag_scope(self) -> dict[str, bool] | None:
        """How hashtag timelines may be read (`timelines_access.hashtag_feeds`); None when the instance forbids it."""
        feeds = ((self.instance().get("configuration") or {}).get("timelines_access") or {}).get("hashtag_feeds")
        if not isinstance(feeds, Mapping):
            return {}  # before Mastodon 4.5 every hashtag timeline is open
        local, remote = (feeds.get(k) != "disabled" for k in ("local", "remote"))
        if not (local or remote):
            return None
        return {} if local and remote else {"local": True} if local else {"remote": True}

    # -- reading --------------------------------------------------------------------------------------
    def normalise(self, status: Mapping[str, Any], *, notified: bool = False) -> Mention:
        """Turn one status into a `Mention` stored under its uri (account id as the stable author id).

        The parent is linked by its key when this source read it before, else by a placeholder that
        `poll` resolves (`StatusKeys.link`). `notified`: it came as a mention notification, so it speaks to the brand.
        """
        try:
            account = status["account"]
            visibility = status.get("visibility") or "public"
            own = self._me is not None and str(account["id"]) == self._me
            path, reason = ReplyPath.API, None
            if own:
                path, reason = ReplyPath.BLOCKED, BRAND_POST_REASON
            elif visibility == "direct":
                path, reason = ReplyPath.OPEN_IN_APP, "a direct message: answer it in the app, not in public"
            raw = {"status": jsonable(dict(status)), "author_id": str(account["id"]), "instance": self.instance_url}
            if own:
                raw["from_brand"] = True
            key = self.keys.remember(status)
            local_parent = str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None
            parent = (self.keys.get(local_parent) or local_ref(self.instance_url, local_parent)) if local_parent \
                else None
            return Mention(
                network=MASTODON, external_id=key,
                author_handle=str(account["acct"]), author_name=str(account.get("display_name") or account["acct"]),
                text=html_to_text(str(status.get("content") or "")), created_at=aware(status["created_at"]),
                url=str(status.get("url") or status.get("uri")), language=status.get("language"),
                author_followers=account.get("followers_count"), author_verified=False,
                conversation_id=parent or key, parent_id=parent,
                reply_path=path, reply_path_reason=reason,
                addressed=not own and (notified or speaks_to(status, self._me)), raw=raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"mastodon: a status lacks {exc}") from exc

    def _keep(self, found: dict[str, Mention], status: Any, *, notified: bool = False) -> str | None:
        """Add one status unless it is the brand's own and those are not wanted; return its id."""
        if not isinstance(status, Mapping) or status.get("reblog"):
            return None  # a boost is not the booster writing
        mention = self.normalise(status, notified=notified)
        if not mention.raw.get("from_brand") or self.brand_posts:
            found.setdefault(mention.external_id, mention)
        return mention.external_id

    def poll(self, cursor: str | None) -> Batch:
        """Read mention notifications newer than the cursor, then searches, hashtag timelines and own statuses."""
        state = json.loads(cursor) if cursor else {}
        state = state if isinstance(state, dict) else {}
        if self.plan.searches or self.hashtags or self.brand_posts:
            self.me()  # to tell the brand's own statuses from customers'
        min_id = state.get("min_id")
        kwargs: dict[str, Any] = {"types": ["mention"]}
        if min_id:
            kwargs["min_id"] = min_id
        notes = self._call("notifications", self.api.notifications, **kwargs) or []
        found: dict[str, Mention] = {}
        newest = min_id
        for note in notes:
            if not isinstance(note, Mapping) or note.get("type") != "mention" or not note.get("status"):
                continue
            self._keep(found, note["status"], notified=True)
            if newer(str(note["id"]), newest):
                newest = str(note["id"])
        self.meter.add("post_read", len(found))
        searched = self._searches(found, dict(state.get("searches") or {}))
        tags = self._hashtags(found, dict(state.get("tags") or {}))
        own = self._own(found, state.get("own_min_id")) if self.brand_posts else state.get("own_min_id")
        looked_up = self.keys.link(found, self._parent, max_lookups=MAX_PARENT_LOOKUPS)
        if looked_up:
            self.meter.add("post_read", looked_up, requests=looked_up)
        log.info("mastodon %s: %d status(es) from %s", self.name, len(found), self.instance_url)
        next_cursor = {"min_id": newest, "tags": tags, "searches": searched, "own_min_id": own}
        return Batch(mentions=tuple(found.values()), cursor=json.dumps(next_cursor, sort_keys=True))

    def _parent(self, local_id: str) -> Mapping[str, Any] | None:
        """A parent status this source never read (GET /api/v1/statuses/:id); None when it is gone or hidden."""
        try:
            return dict(self._call("parent status", self.api.status, local_id))
        except RetriableError as exc:
            if isinstance(exc.__cause__, MastodonNotFoundError):
                return None
            raise

    def _searches(self, found: dict[str, Mention], since: dict[str, str]) -> dict[str, str]:
        """Run each keyword search; keep statuses newer than the last poll's newest for that search."""
        if self._search_refused:
            return since
        for text in self.plan.searches:
            try:
                page = self._call("search", self.api.search_v2, text, resolve=False, result_type="statuses",
                                  exclude_unreviewed=False, limit=PAGE_SIZE)
            except RetriableError as exc:
                cause = exc.__cause__
                if isinstance(cause, MastodonAPIError) and not isinstance(cause, MastodonServerError) \
                        and len(cause.args) > 1 and cause.args[1] in _REFUSED | {400}:
                    log.warning("mastodon %s: %s refuses search (%s); searching is off until restart", self.name,
                                self.instance_url, cause.args[1])
                    self._search_refused = True
                    return since
                raise
            statuses = [s for s in (page or {}).get("statuses") or [] if newer(str(s["id"]), since.get(text))]
            for status in statuses:
                self._keep(found, status)
                since[text] = max(str(status["id"]), since.get(text) or "0", key=int)
            self.meter.add("post_read", len(statuses))
        return since

    def _hashtags(self, found: dict[str, Mention], tags: dict[str, str]) -> dict[str, str]:
        """Read each hashtag timeline the instance allows, newer than the last poll's newest."""
        if not self.hashtags:
            return tags
        scope = self._tag_scope()
        if scope is None:
            log.warning("mastodon %s: %s disables hashtag timelines; hashtags are not read", self.name,
                        self.instance_url)
            return tags
        for tag in self.hashtags:
            extra = {"min_id": tags[tag]} if tags.get(tag) else {}
            statuses = self._call("hashtag", self.api.timeline_hashtag, tag, limit=PAGE_SIZE, **scope, **extra) or []
            for status in statuses:
                self._keep(found, status)
                if newer(str(status["id"]), tags.get(tag)):
                    tags[tag] = str(status["id"])
            self.meter.add("post_read", len(statuses))
        return tags

    def _own(self, found: dict[str, Mention], min_id: str | None) -> str | None:
        """Read the brand's own statuses (replies included, boosts left out) newer than `min_id`."""
        extra = {"min_id": min_id} if min_id else {}
        statuses = self._call("own statuses", self.api.account_statuses, self.me(), exclude_reblogs=True,
                              limit=PAGE_SIZE, **extra) or []
        for status in statuses:
            self._keep(found, status)
            if newer(str(status["id"]), min_id):
                min_id = str(status["id"])
        self.meter.add("owned_read", len(statuses))
        return min_id

    # -- replying -------------------------------------------------------------------------------------
    def max_chars(self) -> int:
        """The instance's own status length limit, from its instance info."""
        try:
            return int(self.instance()["configuration"]["statuses"]["max_characters"])
        except (KeyError, TypeError, ValueError):
            return DEFAULT_MAX_CHARS

    def check_reply(self, text: str) -> int:
        """Refuse a reply the instance would refuse, before queueing it."""
        return check_reply_text(text, limit=self.max_chars(), network=MASTODON)

    def _local_id(self, mention: Mention) -> str | None:
        """The id of `mention`'s status on this instance, which replies name; None when it was read elsewhere."""
        status = mention.raw.get("status") or {}
        if mention.raw.get("instance", self.instance_url) != self.instance_url or not status.get("id"):
            return None
        return str(status["id"])

    def _posted(self, status: Mapping[str, Any]) -> PostedReply:
        return PostedReply(external_id=self.keys.remember(status), url=str(status.get("url") or status.get("uri")),
                           posted_at=aware(status["created_at"]), raw={"status": jsonable(dict(status))})

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post `text` in reply to `mention`, no wider than the status answered, once per idempotency key."""
        local = self._local_id(mention)
        if local is None:
            raise ReplyRejected(f"mastodon: {mention.external_id} was read through {mention.raw.get('instance')}, "
                                f"not {self.instance_url}: answer it from that instance's source")
        self.check_reply(text)
        status = dict(mention.raw.get("status") or {})
        visibility = reply_visibility(status.get("visibility"), self.reply_visibility)
        try:
            posted = self._call("reply", self.api.status_post, text, in_reply_to_id=local, visibility=visibility,
                                language=mention.language, idempotency_key=idempotency_key)
        except RetriableError as exc:
            cause = exc.__cause__
            if isinstance(cause, MastodonAPIError) and len(cause.args) > 3 and cause.args[1] in _REFUSED:
                raise ReplyRejected(f"mastodon: {self.instance_url} does not permit this reply "
                                    f"({cause.args[1]}: {cause.args[3] or cause.args[2]})") from exc
            raise
        self.meter.add("reply", 1)
        log.info("mastodon %s: replied to %s as %s (%s)", self.name, local, posted["id"], visibility)
        return self._posted(posted)

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's own reply to `mention` in its thread (a reply of unknown outcome), or None."""
        local = self._local_id(mention)
        if local is None:
            return None  # read through another instance: this one cannot have posted it (and `reply` refuses)
        try:
            me = self.me()
            context = self._call("context", self.api.status_context, local)
        except RetriableError as exc:
            if isinstance(exc.__cause__, MastodonNotFoundError):
                return None
            raise
        wanted = html_to_text(text)
        for status in context.get("descendants") or []:
            if (str(status.get("in_reply_to_id")) == local and str(status["account"]["id"]) == me
                    and html_to_text(str(status.get("content") or "")) == wanted):
                return self._posted(status)
        return None

    def redacted(self) -> dict[str, Any]:
        """Describe the source without its token."""
        return {**super().redacted(), "instance_url": self.instance_url, "hashtags": self.hashtags,
                "searches": list(self.plan.searches), "brand_posts": self.brand_posts}
