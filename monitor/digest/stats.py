"""Small, hand-checkable statistics: Wilson and Newcombe intervals, percentiles, Poisson spikes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import poisson

from monitor.queue.cases import quantile

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Proportion:
    """`k` of `n`, with its share and Wilson 95% interval (all None when n is 0)."""

    k: int
    n: int
    share: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """A difference of two shares (current minus baseline) with its Newcombe 95% interval and a verdict."""

    current: Proportion
    baseline: Proportion
    diff: float | None
    low: float | None
    high: float | None
    #: "up", "down", "no clear change" (interval spans 0) or "not enough data".
    verdict: str


def wilson(k: int, n: int, *, z: float = Z95) -> Proportion:
    """Return `k` of `n` with the Wilson score interval."""
    if n <= 0:
        return Proportion(k, n, None, None, None)
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must lie in 0..n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # rounding can put a bound a hair past the share itself (wilson(0, 3).low is 5.55e-17): clamp to it
    return Proportion(k, n, p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def newcombe(current: Proportion, baseline: Proportion) -> Change:
    """Return current minus baseline with Newcombe's hybrid score interval (his method 10)."""
    if current.share is None or baseline.share is None:
        return Change(current, baseline, None, None, None, "not enough data")
    assert current.low is not None and current.high is not None
    assert baseline.low is not None and baseline.high is not None
    p1, l1, u1 = current.share, current.low, current.high
    p2, l2, u2 = baseline.share, baseline.low, baseline.high
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    verdict = "up" if low > 0 else "down" if high < 0 else "no clear change"
    return Change(current, baseline, diff, low, high, verdict)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (0-100) by linear interpolation between closest ranks; None when empty."""
    return quantile(values, q / 100)


def spike_hours(counts: Sequence[int], *, min_count: int = 5, p_value: float = 1e-3) -> list[int]:
    """Return indexes of hours whose count is improbably high for a Poisson rate of the period's mean."""
    if not counts:
        return []
    rate = sum(counts) / len(counts)
    if rate <= 0:
        return []
    return [i for i, count in enumerate(counts) if count >= min_count and poisson.sf(count - 1, rate) < p_value]


def runs(indexes: Sequence[int], *, gap: int = 1) -> list[tuple[int, int]]:
    """Group sorted indexes into (first, last) runs, joining neighbours at most `gap` apart."""
    grouped: list[tuple[int, int]] = []
    for index in indexes:
        if grouped and index - grouped[-1][1] <= gap:
            grouped[-1] = (grouped[-1][0], index)
        else:
            grouped.append((index, index))
    return grouped
