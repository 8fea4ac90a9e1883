"""A quiet day never breaks the digest: zero counts and days where every post has the same label.

`wilson(0, 3).low` used to come out as 5.55e-17, just above a share of 0, and matplotlib refused the negative error
bar that made; the scheduled weekly digest crashed on any such day.
"""

from __future__ import annotations

from datetime import timedelta

import matplotlib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.digest.charts import _RC, sentiment_chart
from monitor.digest.data import PostRecord
from monitor.digest.figures import sentiment
from monitor.digest.stats import wilson
from monitor.digest.weeks import IsoWeek

WEEK = IsoWeek(2017, 44)
LABELS = ("negative", "neutral", "positive")


def test_every_day_size_up_to_500_has_ordered_bounds_for_all_zero_and_all_same() -> None:
    for n in range(1, 501):
        for k in (0, n):
            share = wilson(k, n)
            assert share.low is not None and share.share is not None and share.high is not None
            assert 0.0 <= share.low <= share.share <= share.high <= 1.0, (k, n, share)


def _post(index: int, day: int, label: str | None) -> PostRecord:
    at = WEEK.start + timedelta(days=day, minutes=index % 1400)
    return PostRecord(index, "Chipotle", "x", f"u{index}", "someone", 1, "a post", f"https://x.com/{index}", at,
                      label, 0.5, label == "negative", "low", "none", True, "test")


#: One day of the week: how many posts, and which single label all of them carry (None: unclassified).
DAY = st.tuples(st.integers(min_value=0, max_value=500), st.sampled_from((*LABELS, None)))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DAY, min_size=7, max_size=7), st.sampled_from(LABELS))
def test_a_week_of_quiet_or_one_label_days_draws_its_sentiment_chart(days: list[tuple[int, str | None]],
                                                                     earlier_label: str) -> None:
    posts, index = [], 0
    for offset, (size, label) in enumerate(days):
        for _ in range(size):
            index += 1
            posts.append(_post(index, offset, label))
    earlier = [[_post(-1, 0, earlier_label)], []]
    figures = sentiment(posts, earlier, WEEK)
    for daily in figures.daily:
        for share in (daily.negative, daily.positive):
            if share.share is not None:
                assert share.low is not None and share.high is not None
                assert share.low <= share.share <= share.high
    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        assert sentiment_chart(figures).startswith("data:image/svg+xml;base64,")
