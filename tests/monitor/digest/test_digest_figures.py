"""Digest figures against a hand-computable week of stored rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.storage import Database
from monitor.digest.build import as_json, build_digest
from monitor.digest.stats import newcombe, percentile, runs, spike_hours, wilson
from monitor.digest.weeks import IsoWeek, last_full_week, parse_week
from tests.support.digest import BRAND, NOW, RIVAL, day, hand_week


def test_wilson_matches_newcombes_published_intervals() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I, method 3
    for k, n, low, high in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
                            (1, 29, 0.0061, 0.1718)]:
        share = wilson(k, n)
        assert share.low == pytest.approx(low, abs=1e-4) and share.high == pytest.approx(high, abs=1e-4)
    assert wilson(0, 0).share is None


def test_newcombe_matches_the_published_difference_interval() -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent proportions", 56/70 - 48/80
    change = newcombe(wilson(56, 70), wilson(48, 80))
    assert change.diff == pytest.approx(0.2)
    assert change.low == pytest.approx(0.0524, abs=1e-4) and change.high == pytest.approx(0.3339, abs=1e-4)
    assert change.verdict == "up"
    assert newcombe(wilson(5, 10), wilson(4, 10)).verdict == "no clear change"
    assert newcombe(wilson(5, 10), wilson(0, 0)).verdict == "not enough data"


def test_percentiles_spikes_and_runs() -> None:
    assert percentile([10, 20, 30, 40, 100], 50) == 30
    assert percentile([10, 20, 30, 40, 100], 90) == pytest.approx(76)
    assert percentile([], 50) is None
    hours = [1] * 168
    hours[40], hours[41], hours[100] = 9, 7, 3
    assert spike_hours(hours) == [40, 41]
    assert runs([40, 41, 43, 90]) == [(40, 41), (43, 43), (90, 90)]


def test_weeks_are_monday_to_monday_in_their_time_zone() -> None:
    week = parse_week("2026-W47")
    assert (week.start, week.end) == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    assert week.shifted(-47).label == "2025-W52"
    assert week.shifted(6).label == "2026-W53" and week.shifted(7).label == "2027-W01"  # 2026 has 53 weeks
    assert last_full_week(datetime(2026, 11, 23, 0, 30, tzinfo=UTC)) == week
    assert last_full_week(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)).label == "2026-W46"
    summer = IsoWeek(2026, 27, "Europe/London")
    assert summer.start == datetime(2026, 6, 28, 23, tzinfo=UTC)
    with pytest.raises(ValueError, match="not of the form"):
        parse_week("week 47")
    with pytest.raises(ValueError, match="not an ISO week"):
        parse_week("2026-W60")


def test_every_figure_of_the_hand_computed_week(db: Database) -> None:
    ids = hand_week(db)
    digest = build_digest(db, brand=BRAND, week=parse_week("2026-W47"), now=NOW, competitors=[RIVAL],
                          theme_embedder="tfidf")
    volume = digest.volume
    assert (volume.total, volume.previous_total) == (11, 8)
    assert volume.by_network == {"x": 7, "reddit": 4}
    assert [sum(counts.values()) for _, counts in volume.by_day] == [3, 2, 0, 5, 0, 1, 0]
    assert volume.by_day[0] == ("2026-11-16", {"x": 2, "reddit": 1})
    assert sum(volume.hourly) == 11 and volume.hourly[3 * 24 + 9] == 5
    assert digest.off_query == 1

    sentiment = digest.sentiment
    assert sentiment.counts == {"negative": 4, "neutral": 3, "positive": 3}
    assert sentiment.unclassified == 1
    assert (sentiment.negative.k, sentiment.negative.n) == (4, 10)
    assert sentiment.net == pytest.approx(-0.1)
    assert [(d.negative.k, d.negative.n) for d in sentiment.daily] == [(1, 3), (1, 2), (0, 0), (2, 5), (0, 0),
                                                                        (0, 0), (0, 0)]
    assert [w.week for w in sentiment.weekly] == ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    assert [(w.negative.k, w.negative.n) for w in sentiment.weekly] == [(0, 0), (0, 0), (0, 0), (2, 8), (4, 10)]
    change = sentiment.vs_last_week
    assert change.diff == pytest.approx(0.4 - 0.25)
    assert change.verdict == "no clear change" and change.low < 0 < change.high
    assert (sentiment.vs_earlier_weeks.baseline.k, sentiment.vs_earlier_weeks.baseline.n) == (2, 8)

    shares = {share.brand: share for share in digest.share_of_voice}
    assert shares[BRAND].mentions == 11 and shares[RIVAL].mentions == 5
    assert shares[BRAND].share == pytest.approx(11 / 16) and shares[RIVAL].share == pytest.approx(5 / 16)
    assert shares[RIVAL].net == pytest.approx((3 - 1) / 5) and shares[BRAND].own and not shares[RIVAL].own

    response = digest.response
    assert response.first_response_min == [10, 20, 30, 40, 100]
    assert (response.p50_min, response.p90_min) == (30, pytest.approx(76))
    assert (response.items, response.answered, response.due, response.breached) == (7, 5, 5, 2)  # not relevant: not due
    assert response.breach_rate == pytest.approx(2 / 5)
    assert (response.resolved, response.resolvable, response.not_relevant) == (2, 6, 1)
    assert response.resolution_rate == pytest.approx(2 / 6) and response.resolution_p50_min == 180
    assert response.open == 2
    assert [(lv.level, lv.items, lv.answered, lv.breached, lv.due) for lv in response.by_level] == [
        ("high", 7, 5, 2, 5)]

    assert [spike.start for spike in digest.spikes] == [day(3, 9)]
    spike = digest.spikes[0]
    assert spike.mentions == 5 and (spike.negative.k, spike.negative.n) == (2, 5)
    assert spike.expected == pytest.approx(11 / 168)
    assert spike.example is not None and spike.example.mention_id == ids["spike"][4]
    assert [p.mention_id for p in digest.praised] == [ids["this_week"][1], ids["spike"][4]]  # the spam link is left out
    assert [(i.category, i.mentions, i.critical) for i in digest.incidents] == [("outage", 1, 1)]
    assert (digest.complaints, digest.previous_complaints) == (3, 0)
    assert sorted(m for theme in digest.themes for m in theme.mention_ids) == sorted(
        [ids["this_week"][0], ids["this_week"][3], ids["spike"][0]])
    assert digest.models == ["test-model"]

    data = as_json(digest)
    assert data["week"] == "2026-W47" and data["volume"]["total"] == 11
    assert data["themes"][0]["size"] == len(data["themes"][0]["mention_ids"])


def test_a_week_with_nothing_stored_still_makes_a_digest(sqlite_db: Database) -> None:
    digest = build_digest(sqlite_db, brand=BRAND, week=parse_week("2026-W47"), now=NOW, theme_embedder="tfidf")
    assert digest.volume.total == 0 and digest.themes == [] and digest.spikes == []
    assert digest.sentiment.negative.share is None and digest.sentiment.vs_last_week.verdict == "not enough data"
    assert digest.response.p50_min is None and digest.response.breach_rate is None
