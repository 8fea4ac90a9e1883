"""The `Source` contract every network module implements, and its three kinds of error."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from core.domain import Batch, Mention, PostedReply, ReplyPath

#: Why a post by one of the brand's own accounts is never answered as a customer's.
BRAND_POST_REASON = "the brand's own post"


class SourceError(Exception):
    """Base of every error a source raises; the message says what and where."""


class RetriableError(SourceError):
    """A transient failure (5xx, timeout, connection reset): try again on the next tick."""


class FatalSourceError(SourceError):
    """Bad credentials or configuration: disable this source until someone fixes it."""


class MalformedResponse(RetriableError):
    """The network answered with something that is not the documented shape; nothing is stored."""


class RateLimited(SourceError):
    """The network asked us to wait; the scheduler skips the source until `retry_at`."""

    def __init__(self, retry_at: datetime, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry at {retry_at.isoformat()}")
        self.retry_at = retry_at


class SourceUnavailable(SourceError):
    """The source's optional SDK is missing or it cannot be built; other sources keep running."""


class ReplyNotSupported(SourceError):
    """This source cannot post replies (a replay file, a network that forbids it)."""


def mark_brand_post(mention: Mention) -> Mention:
    """Mark a post written by one of the brand's accounts: `raw["from_brand"]`, and never answered as a customer's.

    Routing skips such posts and cases count them as the brand's replies (the replay source's convention).
    """
    return replace(mention, raw={**mention.raw, "from_brand": True}, reply_path=ReplyPath.BLOCKED,
                   reply_path_reason=BRAND_POST_REASON)


class Source(ABC):
    """Poll one network for mentions of one brand, and reply where the network allows."""

    #: The network name stored on every mention ("x", "reddit", "replay"...).
    network: ClassVar[str]

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self.brand = brand
        self.options = dict(options)

    @abstractmethod
    def poll(self, cursor: str | None) -> Batch:
        """Fetch the mentions after `cursor` and return them with the next cursor."""

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post `text` as a public reply to `mention`.

        `idempotency_key` is the same for every attempt at one reply (the outbox passes
        "brandmon-reply-<reply id>"); a network that takes such a key (Mastodon's Idempotency-Key header) sends it,
        so a retry of a request that did arrive is not posted twice. The others accept it and rely on `find_reply`.
        """
        raise ReplyNotSupported(f"source {self.name!r} ({self.network}) cannot post replies")

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Return the brand's own reply to `mention` if one is already posted (an outcome lost to a crash).

        The outbox asks this before re-sending a reply of unknown outcome (a process that died after the network
        took it, a timeout); None means "not found, or this network cannot look", and the reply is sent again.
        A lookup that fails raises a `SourceError`, and the outbox asks again later instead of sending.
        """
        return None

    @classmethod
    def required_secrets(cls) -> tuple[str, ...]:
        """The environment variables (BRANDMON_*) this source cannot run without; `brandmon check` names them."""
        return ()

    def redacted(self) -> dict[str, Any]:
        """Describe the source for logs, with nothing secret in it."""
        return {"name": self.name, "network": self.network, "brand": self.brand}
