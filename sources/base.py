"""The `Source` contract every network module implements, and its three kinds of error."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from core.domain import Batch, Mention, PostedReply


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

    def reply(self, mention: Mention, text: str) -> PostedReply:
        """Post `text` as a public reply to `mention`."""
        raise ReplyNotSupported(f"source {self.name!r} ({self.network}) cannot post replies")

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Return the brand's own reply to `mention` if one is already posted (an outcome lost to a crash).

        The outbox asks this before re-sending a reply of unknown outcome; None means "not found, or this
        network cannot look", so a source that cannot look keeps the outbox's own handling.
        """
        return None

    @classmethod
    def required_secrets(cls) -> tuple[str, ...]:
        """The environment variables (BRANDMON_*) this source cannot run without; `brandmon check` names them."""
        return ()

    def redacted(self) -> dict[str, Any]:
        """Describe the source for logs, with nothing secret in it."""
        return {"name": self.name, "network": self.network, "brand": self.brand}
