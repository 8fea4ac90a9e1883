"""Checks every network runs on a reply before it spends a request on it."""

from __future__ import annotations

from collections.abc import Callable

from sources.base import ReplyNotSupported


class ReplyRejected(ReplyNotSupported):
    """This reply can never be posted as written (too long, empty, to a post the network will refuse)."""


def check_reply_text(text: str, *, limit: int, network: str, measure: Callable[[str], int] = len) -> int:
    """Refuse an empty or over-long reply; return its measured length."""
    if not text or not text.strip():
        raise ReplyRejected(f"{network}: the reply is empty")
    length = measure(text)
    if length > limit:
        raise ReplyRejected(
            f"{network}: the reply is {length} characters as {network} counts them; the limit is {limit}")
    return length


__all__ = ["ReplyRejected", "check_reply_text"]
