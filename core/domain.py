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


#: Column sizes of the `mentions` table (core/storage/schema.py); a value is checked against them here, so one
#: record can never fail a whole batch in the database.
MAX_NETWORK = 32
MAX_ID = 128
MAX_HANDLE = 200
MAX_NAME = 400
MAX_LANGUAGE = 16
MAX_TEXT = 1_000_000
MAX_URL = 4096
MAX_BIGINT = 2**63 - 1


def _string(name: str, value: Any, limit: int | None, *, optional: bool = False, cut: bool = True) -> str | None:
    """Check a string field: the type always, the length by cutting it (display text) or refusing it (ids)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        if not cut:
            raise ValueError(f"{name} is {len(value)} characters; at most {limit} are stored")
        value = value[:limit]
    return value


def _bounded(mention: Mention) -> None:
    """Validate and bound every field of `mention` in place (it is frozen, so through object.__setattr__)."""
    put = object.__setattr__
    put(mention, "network", _string("network", mention.network, MAX_NETWORK, cut=False))
    put(mention, "external_id", _string("external_id", mention.external_id, MAX_ID, cut=False))
    for name, limit in (("author_handle", MAX_HANDLE), ("author_name", MAX_NAME), ("text", MAX_TEXT),
                        ("url", MAX_URL)):
        put(mention, name, _string(name, getattr(mention, name), limit))
    put(mention, "language", _string("language", mention.language, MAX_LANGUAGE, optional=True) or None)
    put(mention, "reply_path_reason", _string("reply_path_reason", mention.reply_path_reason, 2000, optional=True))
    for name in ("conversation_id", "parent_id"):
        put(mention, name, _string(name, getattr(mention, name), MAX_ID, optional=True, cut=False))
    followers = mention.author_followers
    if followers is not None:
        if isinstance(followers, bool) or not isinstance(followers, int):
            raise TypeError(f"author_followers must be an integer, got {type(followers).__name__}")
        if followers < 0:
            raise ValueError(f"author_followers must not be negative, got {followers}")
        put(mention, "author_followers", min(followers, MAX_BIGINT))
    for name in ("author_verified", "addressed"):
        if not isinstance(getattr(mention, name), bool):
            raise TypeError(f"{name} must be true or false, got {type(getattr(mention, name)).__name__}")
    if not isinstance(mention.created_at, datetime):
        raise TypeError(f"created_at must be a datetime, got {type(mention.created_at).__name__}")
    put(mention, "reply_path", ReplyPath(mention.reply_path))


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
    #: The author spoke to the brand: @-mentioned one of its accounts, quoted or answered one of its posts (the
    #: network's mention, reply and quote notifications). Such a post is about the brand whether or not its words
    #: match the brand's query: "'some customers' is doing a LOT of heavy lifting" quoting the outage notice.
    addressed: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.network or not self.external_id:
            raise ValueError("a mention needs a network and an external id")
        _require_aware("created_at", self.created_at)
        _bounded(self)
        if not isinstance(self.raw, MappingProxyType):
            object.__setattr__(self, "raw", MappingProxyType(dict(self.raw)))

    @property
    def key(self) -> tuple[str, str]:
        """Return the identity of the post across re-polls: (network, external id)."""
        return (self.network, self.external_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """A record a source read but could not turn into a `Mention`: where it was and why (README, "Security")."""

    #: "file:line" for a replay, the network's id otherwise.
    location: str
    reason: str
    raw: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one poll returns: normalised mentions and the cursor to resume from."""

    mentions: tuple[Mention, ...]
    cursor: str | None
    #: True when the source has nothing more right now (a replay file at its end, an empty page).
    exhausted: bool = False
    #: Records read in this poll and not stored, each with its reason; they are counted and reported.
    rejected: tuple[Rejection, ...] = ()


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
