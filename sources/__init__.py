"""Sources: one module per network behind the `Source` contract, built lazily from a registry."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from core.registry import load_entry
from sources.base import (
    FatalSourceError,
    MalformedResponse,
    RateLimited,
    ReplyNotSupported,
    RetriableError,
    Source,
    SourceError,
    SourceUnavailable,
)

#: Source type -> "module:Class". Adding a network is one module and one line here.
REGISTRY: dict[str, str] = {
    "replay": "sources.replay:ReplaySource",
    "x": "sources.x:XSource",
    "reddit": "sources.reddit:RedditSource",
    "bluesky": "sources.bluesky:BlueskySource",
    "mastodon": "sources.mastodon:MastodonSource",
}


def source_class(kind: str) -> type[Source]:
    """Import and return the class registered for `kind`."""
    cls: type[Source] = load_entry(REGISTRY, kind, what="source type", error=SourceUnavailable)
    return cls


def build_source(kind: str, *, name: str, brand: str, options: Mapping[str, Any], **extra: Any) -> Source:
    """Build a source of type `kind`; any failure becomes `SourceUnavailable` or `FatalSourceError`.

    `extra` (the brand's query and handles, the secrets, a clock) goes only to the keyword arguments the
    source's constructor declares, so a replay source is built with none of them.
    """
    cls = source_class(kind)
    accepted = inspect.signature(cls.__init__).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    passed = {key: value for key, value in extra.items() if takes_all or key in accepted}
    return cls(name=name, brand=brand, options=options, **passed)


__all__ = [
    "REGISTRY",
    "FatalSourceError",
    "MalformedResponse",
    "RateLimited",
    "ReplyNotSupported",
    "RetriableError",
    "Source",
    "SourceError",
    "SourceUnavailable",
    "build_source",
    "source_class",
]
