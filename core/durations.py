"""Durations as people read them, the same in the digest, Slack and the terminal."""

from __future__ import annotations

from typing import Any


def format_minutes(minutes: Any, *, missing: str = "—") -> str:
    """Format minutes as "42m", "3h 05m" or "2d 4h"; anything that is not a number as `missing`."""
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or minutes != minutes:
        return missing
    whole = round(minutes)
    if whole < 60:
        return f"{whole}m"
    if whole < 48 * 60:
        return f"{whole // 60}h {whole % 60:02d}m"
    return f"{whole // 1440}d {(whole % 1440) // 60}h"
