"""The records that flow through brandmon, one frozen type per step's output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class ReplyPath(StrEnum):
    """How a responder can answer a post on its network."""

    API = "api"
    OPEN_IN_APP = "open_in_app"
    BLOCKED = "blocked"


class QueueStatus(StrEnum):
    """Where a queue item stands."""

    NEW = "new"
    CLAIMED = "claimed"
    REPLIED = "replied"
    RESOLVED = "resolved"
    NOT_RELEVANT = "not_relevant"
    SNOOZED = "snoozed"


class OutboxStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Mention:
    """A post about a brand as a source normalised it; the raw payload is kept for audit."""

    network: str
    external_id: str
    author_handle: str
    author_name: str
    text: str
    created_at: datetime
    url: str
    language: str | None = None
    author_followers: int | None = None
    author_verified: bool = False
    conversation_id: str | None = None
    parent_id: str | None = None
    reply_path: ReplyPath = ReplyPath.API
    reply_path_reason: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.network or not self.external_id:
            raise ValueError("a mention needs a network and an external id")
        _require_aware("created_at", self.created_at)
        if not isinstance(self.raw, MappingProxyType):
            object.__setattr__(self, "raw", MappingProxyType(dict(self.raw)))

    @property
    def key(self) -> tuple[str, str]:
        """Return the identity of the post across re-polls: (network, external id)."""
        return (self.network, self.external_id)


@dataclass(frozen=True, slots=True)
class Batch:
    """What one poll returns: normalised mentions and the cursor to resume from."""

    mentions: tuple[Mention, ...]
    cursor: str | None
    #: True when the source has nothing more right now (a replay file at its end, an empty page).
    exhausted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedReply:
    """A public reply a source posted on its network."""

    external_id: str
    url: str
    posted_at: datetime
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One outbound message waiting in the outbox (a Slack alert, a public reply)."""

    id: int
    kind: str
    channel: str
    dedupe_key: str
    payload: Mapping[str, Any]
    attempts: int
