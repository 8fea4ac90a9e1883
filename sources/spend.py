"""What a source's API calls cost: a price list per network and a meter each source counts its usage on.

X bills per resource under its pay-per-use price list; Reddit's free tier bills nothing but is counted in
requests. The pipeline drains each source's meter after a poll and adds it to the `source_usage` table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

#: X's pay-per-use prices in US dollars per unit (issue 3 and X's price list): a post read through search,
#: a post read through an owned endpoint (mentions of the brand's own account), a post written, a post written
#: with a URL in it, and a user looked up (once per source, to turn the brand's handle into its account id).
#: A source's `options.prices` overrides any of them when X changes its list.
X_PRICES_USD: Mapping[str, float] = {
    "post_read": 0.005,
    "owned_read": 0.001,
    "post_write": 0.015,
    "post_write_url": 0.20,
    "user_read": 0.010,
}


@dataclass(frozen=True, slots=True)
class Usage:
    """Units of one billable kind and the requests that used them."""

    kind: str
    units: int
    requests: int
    cost_usd: float


class UsageMeter:
    """Count billable units per kind until the pipeline drains them; thread-safe."""

    def __init__(self, prices: Mapping[str, float] | None = None) -> None:
        self.prices = dict(prices or {})
        self._lock = threading.Lock()
        self._pending: dict[str, list[float]] = {}

    def add(self, kind: str, units: int = 0, *, requests: int = 1) -> float:
        """Count `units` of `kind` used by `requests` calls; return their estimated cost in dollars."""
        cost = units * self.prices.get(kind, 0.0)
        with self._lock:
            entry = self._pending.setdefault(kind, [0, 0, 0.0])
            entry[0] += units
            entry[1] += requests
            entry[2] += cost
        return cost

    def pending_cost_usd(self) -> float:
        """Return the cost counted and not drained yet."""
        with self._lock:
            return sum(entry[2] for entry in self._pending.values())

    def drain(self) -> list[Usage]:
        """Return and reset what was counted since the last drain."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [Usage(kind, int(u), int(r), float(c)) for kind, (u, r, c) in sorted(pending.items())]


@runtime_checkable
class Metered(Protocol):
    """A source that counts its API usage on a meter."""

    meter: UsageMeter


def prices_from_options(defaults: Mapping[str, float], override: object, *, where: str) -> dict[str, float]:
    """Merge a source's `options.prices` over the defaults, refusing unknown kinds and negative prices."""
    prices = dict(defaults)
    if override is None:
        return prices
    if not isinstance(override, Mapping):
        raise ValueError(f"{where}: options.prices must be a mapping of kind to dollars")
    for kind, value in override.items():
        if kind not in defaults:
            raise ValueError(f"{where}: options.prices.{kind}: unknown kind; known: {', '.join(sorted(defaults))}")
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{where}: options.prices.{kind}: must be a number of dollars >= 0")
        prices[str(kind)] = float(value)
    return prices


__all__ = ["X_PRICES_USD", "Metered", "Usage", "UsageMeter", "prices_from_options"]
