"""Mastodon through Mastodon.py: mention notifications, hashtag/keyword search, the brand's own statuses; replies.

One source reads one instance (configure several sources for several instances). The cursor is JSON with the
newest mention-notification id seen (`min_id` on the next poll). Replies go out with `in_reply_to_id`, the
visibility of the status answered (never wider), an idempotency key per outbox row, and the instance's own
character limit. A 429 becomes `RateLimited` from `X-RateLimit-Reset`. This is the only module importing
Mastodon.py.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

from mastodon import (
    Mastodon,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.settings import Secrets
from sources.base import FatalSourceError, MalformedResponse, RateLimited, RetriableError, Source
from sources.reply_limits import check_reply_text
from sources.spend import UsageMeter

log = logging.getLogger(__name__)

MASTODON = "mastodon"
#: The stock Mastodon limit, used only when the instance info does not say.
DEFAULT_MAX_CHARS = 500
#: Visibilities from widest to narrowest; a reply never goes wider than the status it answers.
_VISIBILITY_ORDER = ("public", "unlisted", "private", "direct")
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Turn a status's HTML content into plain text."""
    return unescape(_TAG.sub("", _BREAK.sub("\n", html or ""))).strip()


def reply_visibility(answered: str | None, wanted: str | None = None) -> str:
    """Return the narrower of the answered status's visibility and the configured one."""
    order = {v: i for i, v in enumerate(_VISIBILITY_ORDER)}
    base = answered if answered in order else "direct"
    if wanted in order and order[wanted] > order[base]:
        return str(wanted)
    return str(base)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class MastodonSource(Source):
    """Poll one Mastodon instance for a brand's mentions; reply in the thread with the same visibility."""

    network = MASTODON

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], query: str | None = None,
                 handles: Mapping[str, str] | None = None, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] | None = None, client: Any = None) -> None:
        super().__init__(name=name, brand=brand, options=options)
        where = f"source {name!r}"
        self.clock = clock or (lambda: datetime.now(UTC))
        self.instance_url = str(options.get("instance_url") or "").rstrip("/")
        if not self.instance_url:
            raise FatalSourceError(f"{where}: options.instance_url is required, e.g. https://mastodon.social")
        self.hashtags = [str(t).lstrip("#") for t in options.get("hashtags") or ()]
        self.reply_visibility = options.get("reply_visibility")
        self.query = query
        self._max_chars: int | None = None
        self.meter = UsageMeter()
        if client is not None:
            self.api = client
            return
        token = secrets.mastodon_access_token if secrets is not None else None
        if token is None:
            raise FatalSourceError(f"{where}: set BRANDMON_MASTODON_ACCESS_TOKEN (an access token with "
                                   "read and write:statuses scopes from the instance's Development settings)")
        self.api = Mastodon(access_token=token.get_secret_value(), api_base_url=self.instance_url,
                            version_check_mode="none", ratelimit_method="throw", request_timeout=30,
                            user_agent=str(options.get("user_agent") or "brandmon"))
        self.api.session.hooks["response"].append(self._remember)

    @classmethod
    def required_secrets(cls) -> tuple[str, ...]:
        """The environment variables this source cannot run without."""
        return ("BRANDMON_MASTODON_ACCESS_TOKEN",)

    @classmethod
    def reads(cls) -> tuple[str, ...]:
        """The API reads one poll makes, for `brandmon sources`."""
        return ("GET /api/v1/notifications?types[]=mention", "GET /api/v2/search (hashtags, keywords)",
                "GET /api/v1/accounts/:id/statuses (own)", "GET /api/v2/instance (char limit)")

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
                return _aware(value)
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

    # -- reading --------------------------------------------------------------------------------------
    def normalise(self, status: Mapping[str, Any]) -> Mention:
        """Turn one status into a `Mention` (account id as the stable author id)."""
        try:
            account = status["account"]
            visibility = status.get("visibility") or "public"
            path, reason = ReplyPath.API, None
            if visibility == "direct":
                path, reason = ReplyPath.OPEN_IN_APP, "a direct message: answer it in the app, not in public"
            return Mention(
                network=MASTODON, external_id=str(status["id"]),
                author_handle=str(account["acct"]), author_name=str(account.get("display_name") or account["acct"]),
                text=html_to_text(str(status.get("content") or "")), created_at=_aware(status["created_at"]),
                url=str(status.get("url") or status.get("uri")), language=status.get("language"),
                author_followers=account.get("followers_count"), author_verified=False,
                conversation_id=str(status.get("in_reply_to_id") or status["id"]),
                parent_id=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
                reply_path=path, reply_path_reason=reason,
                raw={"status": _jsonable(dict(status)), "author_id": str(account["id"]), "instance": self.instance_url})
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"mastodon: a status lacks {exc}") from exc

    def poll(self, cursor: str | None) -> Batch:
        """Read mention notifications newer than the cursor, then hashtag timelines."""
        state = json.loads(cursor) if cursor else {}
        min_id = state.get("min_id")
        kwargs: dict[str, Any] = {"types": ["mention"]}
        if min_id:
            kwargs["min_id"] = min_id
        notes = self._call("notifications", self.api.notifications, **kwargs) or []
        mentions: dict[str, Mention] = {}
        newest = min_id
        for note in notes:
            if not isinstance(note, Mapping) or note.get("type") != "mention" or not note.get("status"):
                continue
            mention = self.normalise(note["status"])
            mentions.setdefault(mention.external_id, mention)
            nid = str(note["id"])
            if newest is None or int(nid) > int(newest):
                newest = nid
        self.meter.add("post_read", len(mentions))
        tags = dict(state.get("tags") or {})
        for tag in self.hashtags:
            tag_kwargs = {"min_id": tags[tag]} if tags.get(tag) else {}
            for status in self._call("hashtag", self.api.timeline_hashtag, tag, **tag_kwargs) or []:
                mention = self.normalise(status)
                mentions.setdefault(mention.external_id, mention)
                self.meter.add("post_read", 1, requests=0)
                if not tags.get(tag) or int(mention.external_id) > int(tags[tag]):
                    tags[tag] = mention.external_id
        log.info("mastodon %s: %d mention(s) from %s", self.name, len(mentions), self.instance_url)
        next_cursor = json.dumps({"min_id": newest, "tags": tags}, sort_keys=True)
        return Batch(mentions=tuple(mentions.values()), cursor=next_cursor)

    # -- replying -------------------------------------------------------------------------------------
    def max_chars(self) -> int:
        """The instance's own status length limit, read once from its instance info."""
        if self._max_chars is None:
            info = self._call("instance", self.api.instance_v2)
            try:
                self._max_chars = int(info["configuration"]["statuses"]["max_characters"])
            except (KeyError, TypeError, ValueError):
                self._max_chars = DEFAULT_MAX_CHARS
        return self._max_chars

    def check_reply(self, text: str) -> int:
        """Refuse a reply the instance would refuse, before queueing it."""
        return check_reply_text(text, limit=self.max_chars(), network=MASTODON)

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post `text` in reply to `mention`, no wider than the status answered."""
        self.check_reply(text)
        status = dict(mention.raw.get("status") or {})
        visibility = reply_visibility(status.get("visibility"), self.reply_visibility)
        posted = self._call("reply", self.api.status_post, text, in_reply_to_id=mention.external_id,
                            visibility=visibility, language=mention.language,
                            idempotency_key=idempotency_key)
        self.meter.add("reply", 1)
        log.info("mastodon %s: replied to %s as %s (%s)", self.name, mention.external_id, posted["id"], visibility)
        return PostedReply(external_id=str(posted["id"]), url=str(posted.get("url") or posted.get("uri")),
                           posted_at=_aware(posted["created_at"]), raw={"status": _jsonable(dict(posted))})

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's own reply to `mention` in its thread (a reply of unknown outcome), or None."""
        try:
            me = self._call("verify_credentials", self.api.account_verify_credentials)
            context = self._call("context", self.api.status_context, mention.external_id)
        except RetriableError as exc:
            if isinstance(exc.__cause__, MastodonNotFoundError):
                return None
            raise
        wanted = html_to_text(text)
        for status in context.get("descendants") or []:
            if (str(status.get("in_reply_to_id")) == mention.external_id
                    and str(status["account"]["id"]) == str(me["id"])
                    and html_to_text(str(status.get("content") or "")) == wanted):
                return PostedReply(external_id=str(status["id"]), url=str(status.get("url") or status.get("uri")),
                                   posted_at=_aware(status["created_at"]), raw={"status": _jsonable(dict(status))})
        return None

    def redacted(self) -> dict[str, Any]:
        """Describe the source without its token."""
        return {**super().redacted(), "instance_url": self.instance_url, "hashtags": self.hashtags}
