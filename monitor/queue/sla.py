"""SLA deadlines counted in business hours of the team's time zone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.settings import SlaSettings
from core.settings.cases import CaseSettings

#: The longest span `business_minutes_between` walks day by day (ten years).
_MAX_DAYS = 3660


def add_business_minutes(start: datetime, minutes: int, sla: SlaSettings) -> datetime:
    """Return the time `minutes` of business time after `start` (wall-clock time if no hours are set)."""
    if sla.business_hours is None:
        return start + timedelta(minutes=minutes)
    zone = ZoneInfo(sla.timezone)
    opens, closes = (time.fromisoformat(t) for t in sla.business_hours)
    if opens >= closes:
        raise ValueError("sla.business_hours must open before it closes on the same day")
    current = start.astimezone(zone)
    remaining = timedelta(minutes=minutes)
    for _ in range(3660):  # ten years of days: a bound, never reached with sane settings
        day_open = datetime.combine(current.date(), opens, zone)
        day_close = datetime.combine(current.date(), closes, zone)
        if current.weekday() in sla.business_days and current < day_close:
            begin = max(current, day_open)
            available = day_close - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        next_day = current.date() + timedelta(days=1)
        current = datetime.combine(next_day, opens, zone)
    raise ValueError("sla.business_days has no working day")


def business_minutes_between(start: datetime, end: datetime, *, hours: tuple[str, str], days: Sequence[int],
                             timezone: str) -> float:
    """Return how many minutes of [start, end) fall inside the working day (`hours` on `days`) of `timezone`."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(timezone)
    opens, closes = (time.fromisoformat(t) for t in hours)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    if (last - day).days > _MAX_DAYS:
        raise ValueError(f"{start.isoformat()} to {end.isoformat()} is longer than {_MAX_DAYS} days")
    total = 0.0
    while day <= last:
        if day.weekday() in days:
            begin = max(start, datetime.combine(day, opens, zone))
            finish = min(end, datetime.combine(day, closes, zone))
            if finish > begin:
                total += (finish - begin).total_seconds() / 60
        day += timedelta(days=1)
    return total


def business_clock(cases: CaseSettings, sla: SlaSettings) -> Callable[[datetime, datetime], float]:
    """Return minutes-between counting only `cases.business_hours` (in `cases.timezone`, else `sla.timezone`)."""
    zone = cases.timezone or sla.timezone

    def minutes(start: datetime, end: datetime) -> float:
        return business_minutes_between(start, end, hours=cases.business_hours, days=cases.business_days,
                                        timezone=zone)

    return minutes


def deadlines(start: datetime, level: str, sla: SlaSettings) -> tuple[datetime, datetime]:
    """Return (first response due, resolution due) for a post of urgency `level` seen at `start`."""
    target = sla.target(level)
    return (
        add_business_minutes(start, target.first_response_min, sla),
        add_business_minutes(start, target.resolution_min, sla),
    )


@dataclass(frozen=True, slots=True)
class SlaStatus:
    """Where an item stands against its SLA: which target is running, when it is due, and how close."""

    target: str  # "first response", "resolution" or "done"
    due: datetime | None
    minutes_left: int | None
    state: str  # "ok", "warning", "breached" or "met"


def sla_status(
    *,
    first_response_due: datetime,
    resolution_due: datetime,
    first_response_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
    warning_min: int,
) -> SlaStatus:
    """Return the running SLA target and its state, warning `warning_min` minutes before the deadline."""
    if resolved_at is not None:
        return SlaStatus("done", None, None, "met" if resolved_at <= resolution_due else "breached")
    target, due = (("first response", first_response_due) if first_response_at is None
                   else ("resolution", resolution_due))
    left = int((due - now).total_seconds() // 60)
    if due <= now:
        state = "breached"
    elif due - now <= timedelta(minutes=warning_min):
        state = "warning"
    else:
        state = "ok"
    return SlaStatus(target, due, left, state)
