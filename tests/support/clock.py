"""The one clock the tests move by hand; nothing in a test sleeps on the real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Monday 23 November 2026, 09:00 UTC: the default start of every test clock.
DEFAULT_START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    """A settable clock for sources, the pipeline and the queue; call it for the time, `advance` to move it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or DEFAULT_START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by `timedelta(**delta)`."""
        self.now += timedelta(**delta)
