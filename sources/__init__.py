"""Sources: one module per network behind the `Source` contract, built lazily from a registry."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

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
}


def source_class(kind: str) -> type[Source]:
    """Import and return the class registered for `kind`."""
    try:
        target = REGISTRY[kind]
    except KeyError:
        raise SourceUnavailable(f"unknown source type {kind!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceUnavailable(f"source type {kind!r} needs a package that is not installed: {exc}") from exc
    cls: type[Source] = getattr(module, class_name)
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
