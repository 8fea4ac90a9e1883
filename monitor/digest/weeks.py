"""ISO weeks as the digest reports them: Monday 00:00 to the next Monday 00:00 in one time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IsoWeek:
    """One ISO week (`2026-W47`) in a time zone; `start`/`end` are UTC-aware and `end` is exclusive."""

    year: int
    week: int
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            date.fromisocalendar(self.year, self.week, 1)
        except ValueError:
            raise ValueError(f"{self.year}-W{self.week:02d} is not an ISO week") from None

    @property
    def label(self) -> str:
        """Return the week as `YYYY-Www`."""
        return f"{self.year}-W{self.week:02d}"

    @property
    def days(self) -> list[date]:
        """Return the seven local dates of the week, Monday first."""
        monday = date.fromisocalendar(self.year, self.week, 1)
        return [monday + timedelta(days=i) for i in range(7)]

    def day_start(self, day: date) -> datetime:
        """Return local midnight of `day` as a UTC datetime."""
        return datetime.combine(day, time(0), ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def start(self) -> datetime:
        """Return Monday 00:00 local time, in UTC."""
        return self.day_start(self.days[0])

    @property
    def end(self) -> datetime:
        """Return the next Monday 00:00 local time, in UTC (exclusive)."""
        return self.day_start(self.days[0] + timedelta(days=7))

    def local_date(self, moment: datetime) -> date:
        """Return the local calendar date of a UTC-aware moment."""
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def shifted(self, weeks: int) -> IsoWeek:
        """Return the week `weeks` later (negative: earlier)."""
        year, week, _ = (self.days[0] + timedelta(weeks=weeks)).isocalendar()
        return IsoWeek(year, week, self.timezone)

    def __str__(self) -> str:
        return self.label


def parse_week(text: str, *, timezone: str = "UTC") -> IsoWeek:
    """Parse `2026-W47` (or `2026W47`) into an `IsoWeek`."""
    match = _WEEK.match(text.strip())
    if not match:
        raise ValueError(f"week {text!r} is not of the form 2026-W47")
    return IsoWeek(int(match.group(1)), int(match.group(2)), timezone)


def last_full_week(now: datetime, *, timezone: str = "UTC") -> IsoWeek:
    """Return the most recent ISO week that has ended by `now` in `timezone`."""
    local = now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=7)
    year, week, _ = local.isocalendar()
    return IsoWeek(year, week, timezone)
