"""Compute every figure of a digest from stored rows; each figure keeps the ids or counts it came from."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.digest.data import PostRecord, QueueRecord
from monitor.digest.stats import Change, Proportion, newcombe, percentile, runs, spike_hours, wilson
from monitor.digest.weeks import IsoWeek

LEVELS = ("critical", "high", "normal", "low")
#: Urgency categories that make a post an incident worth a line in the digest.
INCIDENT_CATEGORIES = ("safety", "legal", "outage")
_LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|net|org|io|co\.uk|example)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DaySentiment:
    """One day's classified mentions and its negative and positive shares."""

    day: str
    negative: Proportion
    positive: Proportion


@dataclass(frozen=True, slots=True)
class WeekSentiment:
    """One week's negative share and net sentiment, for the trend."""

    week: str
    negative: Proportion
    net: float | None


@dataclass(frozen=True, slots=True)
class Sentiment:
    """The week's sentiment: counts, shares with intervals, daily and weekly trend, change against before."""

    counts: dict[str, int]
    unclassified: int
    negative: Proportion
    positive: Proportion
    net: float | None
    daily: list[DaySentiment]
    weekly: list[WeekSentiment]
    vs_last_week: Change
    vs_earlier_weeks: Change


@dataclass(frozen=True, slots=True)
class Volume:
    """How much the brand was talked about: per day and network, per hour, against last week."""

    total: int
    previous_total: int
    by_network: dict[str, int]
    by_day: list[tuple[str, dict[str, int]]]
    hourly: list[int]


@dataclass(frozen=True, slots=True)
class LanguageRow:
    """One language's mentions and its negative, neutral and positive shares of the classified ones."""

    language: str
    mentions: int
    classified: int
    negative: float | None
    neutral: float | None
    positive: float | None


@dataclass(frozen=True, slots=True)
class BrandShare:
    """One brand's share of voice and net sentiment in the week."""

    brand: str
    own: bool
    mentions: int
    share: float | None
    classified: int
    negative: int
    positive: int
    net: float | None


@dataclass(frozen=True, slots=True)
class Spike:
    """A run of hours with improbably many mentions for the week's hourly rate."""

    start: datetime
    end: datetime
    mentions: int
    expected: float
    negative: Proportion
    top_category: str | None
    example: PostRecord | None


@dataclass(frozen=True, slots=True)
class Incident:
    """Critical or high urgency posts of one category (safety, legal, outage) in the week."""

    category: str
    mentions: int
    critical: int
    first_seen: datetime
    example: PostRecord


@dataclass(frozen=True, slots=True)
class LevelResponse:
    """Response figures for one urgency level."""

    level: str
    items: int
    answered: int
    breached: int
    due: int


@dataclass(frozen=True, slots=True)
class Response:
    """How fast the team answered the week's queue items, from their stored times."""

    items: int
    answered: int
    first_response_min: list[float]
    p50_min: float | None
    p90_min: float | None
    due: int
    breached: int
    breach_rate: float | None
    resolvable: int
    resolved: int
    resolution_rate: float | None
    resolution_p50_min: float | None
    not_relevant: int
    open: int
    by_level: list[LevelResponse]


def relevant(posts: Sequence[PostRecord]) -> list[PostRecord]:
    """Return posts that match their brand's query (the classifier's `matched_query`)."""
    return [post for post in posts if post.matched_query]


def volume(posts: Sequence[PostRecord], previous: Sequence[PostRecord], week: IsoWeek) -> Volume:
    """Count mentions per network, per local day and network, and per hour of the week."""
    networks = Counter(post.network for post in posts)
    days = {day.isoformat(): Counter[str]() for day in week.days}
    hourly = [0] * 168
    for post in posts:
        days[week.local_date(post.created_at).isoformat()][post.network] += 1
        hourly[min(167, int((post.created_at - week.start).total_seconds() // 3600))] += 1
    return Volume(len(posts), len(previous), dict(networks.most_common()),
                  [(day, dict(counts)) for day, counts in days.items()], hourly)


def _shares(posts: Sequence[PostRecord]) -> tuple[Proportion, Proportion, float | None]:
    rated = [post for post in posts if post.sentiment is not None]
    negative = sum(post.sentiment == "negative" for post in rated)
    positive = sum(post.sentiment == "positive" for post in rated)
    net = (positive - negative) / len(rated) if rated else None
    return wilson(negative, len(rated)), wilson(positive, len(rated)), net


def sentiment(posts: Sequence[PostRecord], earlier: Sequence[Sequence[PostRecord]], week: IsoWeek) -> Sentiment:
    """Compute this week's sentiment and its change; `earlier[0]` is last week, `earlier[1]` the one before."""
    negative, positive, net = _shares(posts)
    counts = Counter(post.sentiment for post in posts if post.sentiment is not None)
    daily = []
    for day in week.days:
        on_day = [post for post in posts if week.local_date(post.created_at) == day]
        day_negative, day_positive, _ = _shares(on_day)
        daily.append(DaySentiment(day.isoformat(), day_negative, day_positive))
    weekly = []
    for offset in range(len(earlier), 0, -1):
        share, _, week_net = _shares(earlier[offset - 1])
        weekly.append(WeekSentiment(week.shifted(-offset).label, share, week_net))
    weekly.append(WeekSentiment(week.label, negative, net))
    last = _shares(earlier[0])[0] if earlier else wilson(0, 0)
    pooled = _shares([post for posts_of_week in earlier for post in posts_of_week])[0]
    return Sentiment(
        counts={name: counts.get(name, 0) for name in ("negative", "neutral", "positive")},
        unclassified=sum(post.sentiment is None for post in posts),
        negative=negative,
        positive=positive,
        net=net,
        daily=daily,
        weekly=weekly,
        vs_last_week=newcombe(negative, last),
        vs_earlier_weeks=newcombe(negative, pooled),
    )


def by_language(posts: Sequence[PostRecord]) -> list[LanguageRow]:
    """Return mentions and sentiment shares per stored language ("unknown" when none), busiest first."""
    groups: dict[str, list[PostRecord]] = {}
    for post in posts:
        groups.setdefault(post.language or "unknown", []).append(post)
    rows = []
    for language, mine in groups.items():
        rated = Counter(post.sentiment for post in mine if post.sentiment is not None)
        total = sum(rated.values())
        shares = [rated[name] / total if total else None for name in ("negative", "neutral", "positive")]
        rows.append(LanguageRow(language, len(mine), total, *shares))
    return sorted(rows, key=lambda row: (-row.mentions, row.language))


def share_of_voice(posts: Sequence[PostRecord], brands: Sequence[str], own: str) -> list[BrandShare]:
    """Return each brand's mentions, share of all listed brands' mentions, and net sentiment."""
    total = sum(1 for post in posts if post.brand in brands)
    shares = []
    for brand in brands:
        mine = [post for post in posts if post.brand == brand]
        rated = [post for post in mine if post.sentiment is not None]
        negative = sum(post.sentiment == "negative" for post in rated)
        positive = sum(post.sentiment == "positive" for post in rated)
        shares.append(BrandShare(brand, brand == own, len(mine), len(mine) / total if total else None, len(rated),
                                 negative, positive, (positive - negative) / len(rated) if rated else None))
    return shares


def praised(posts: Sequence[PostRecord], *, limit: int = 5, min_positive: float = 0.6) -> list[PostRecord]:
    """Return positive, non-complaint posts worth thanking, widest reach first.

    Posts that carry a link are left out: praise rarely does, giveaway spam nearly always does.
    """
    candidates = [post for post in posts if post.sentiment == "positive" and not post.complaint
                  and (post.positive_prob or 0.0) >= min_positive and not _LINK.search(post.text)]
    candidates.sort(key=lambda p: (-(p.author_followers or 0), -(p.positive_prob or 0.0), p.mention_id))
    return candidates[:limit]


def _reach(post: PostRecord) -> tuple[int, int]:
    return (post.author_followers or 0, -post.mention_id)


def spikes(posts: Sequence[PostRecord], hourly: Sequence[int], week: IsoWeek) -> list[Spike]:
    """Find runs of hours whose volume is improbable (Poisson p < 0.001) for the week's mean hourly rate."""
    rate = sum(hourly) / len(hourly) if hourly else 0.0
    found = []
    for first, last in runs(spike_hours(hourly)):
        start, end = week.start + timedelta(hours=first), week.start + timedelta(hours=last + 1)
        inside = [post for post in posts if start <= post.created_at < end]
        categories = Counter(p.shown_category for p in inside if p.shown_category not in (None, "none"))
        found.append(Spike(start, end, len(inside), rate * (last - first + 1), _shares(inside)[0],
                           categories.most_common(1)[0][0] if categories else None,
                           max(inside, key=_reach) if inside else None))
    return found


def incidents(posts: Sequence[PostRecord]) -> list[Incident]:
    """Group critical and high urgency posts about safety, legal matters and outages by category."""
    found = []
    for category in INCIDENT_CATEGORIES:
        urgent = [p for p in posts if p.urgency_category == category and p.urgency_level in ("critical", "high")]
        if urgent:
            found.append(Incident(category, len(urgent), sum(p.urgency_level == "critical" for p in urgent),
                                  min(p.created_at for p in urgent), max(urgent, key=_reach)))
    return found


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60.0


def response(items: Sequence[QueueRecord], *, now: datetime) -> Response:
    """Compute first-response percentiles, SLA breach rate and resolution rate as of `now`.

    An item counts toward the breach rate once its first-response deadline has passed (or it was answered);
    it breached if it was answered after the deadline or not by `now`. Items marked not relevant need no
    response: they are left out of the breach rate and the resolution rate.
    """
    answered = [item for item in items if item.first_response_at is not None]
    minutes = sorted(_minutes(item.first_response_at, item.posted_at) for item in answered
                     if item.first_response_at is not None)
    due = [item for item in items if item.status != "not_relevant"
           and (item.first_response_at is not None or item.first_response_due <= now)]
    breached = [item for item in due if _breached(item, now)]
    resolvable = [item for item in items if item.status != "not_relevant"]
    resolved = [item for item in resolvable if item.resolved_at is not None or item.status == "resolved"]
    resolution = [_minutes(item.resolved_at, item.posted_at) for item in resolved if item.resolved_at is not None]
    by_level = []
    for level in LEVELS:
        mine = [item for item in items if item.urgency_level == level]
        if mine:
            level_due = [item for item in mine if item in due]
            by_level.append(LevelResponse(level, len(mine), sum(i.first_response_at is not None for i in mine),
                                          sum(_breached(i, now) for i in level_due), len(level_due)))
    return Response(
        items=len(items),
        answered=len(answered),
        first_response_min=minutes,
        p50_min=percentile(minutes, 50),
        p90_min=percentile(minutes, 90),
        due=len(due),
        breached=len(breached),
        breach_rate=len(breached) / len(due) if due else None,
        resolvable=len(resolvable),
        resolved=len(resolved),
        resolution_rate=len(resolved) / len(resolvable) if resolvable else None,
        resolution_p50_min=percentile(resolution, 50),
        not_relevant=len(items) - len(resolvable),
        open=sum(item.status in ("new", "claimed", "snoozed") for item in items),
        by_level=by_level,
    )


def _breached(item: QueueRecord, now: datetime) -> bool:
    answered = item.first_response_at
    return answered > item.first_response_due if answered is not None else item.first_response_due <= now
