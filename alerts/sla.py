"""SLA deadlines counted in business hours of the team's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.settings import SlaSettings


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


def deadlines(start: datetime, level: str, sla: SlaSettings) -> tuple[datetime, datetime]:
    """Return (first response due, resolution due) for a post of urgency `level` seen at `start`."""
    target = sla.target(level)
    return (
        add_business_minutes(start, target.first_response_min, sla),
        add_business_minutes(start, target.resolution_min, sla),
    )
