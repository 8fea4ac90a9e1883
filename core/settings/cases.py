"""Case settings: how customer posts are grouped into one case, when a quiet case resolves itself, and the
business hours the digest measures first responses in."""

from __future__ import annotations

from datetime import time

from pydantic import Field, field_validator, model_validator

from core.settings.base import _Model
from core.settings.sla import SlaSettings


class CaseSettings(_Model):
    """One open case per customer conversation (README, "Cases")."""

    #: A customer's new post to the brand joins their open case when it comes within this many hours of their last.
    merge_window_h: float = Field(default=24.0, ge=0)
    #: A case whose last word is the brand's resolves after this many hours without a customer post.
    auto_resolve_h: float = Field(default=72.0, gt=0)
    #: The working day (local "HH:MM" open and close) the digest counts business-hours first responses in.
    business_hours: tuple[str, str] = ("09:00", "17:00")
    #: Working weekdays, 0 = Monday.
    business_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    #: Time zone of `business_hours`; empty: `sla.timezone`.
    timezone: str | None = None

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: tuple[str, str]) -> tuple[str, str]:
        try:
            opens, closes = (time.fromisoformat(v) for v in value)
        except ValueError:
            raise ValueError(f"business_hours must be two HH:MM times, not {list(value)!r}") from None
        if opens >= closes:
            raise ValueError(f"business_hours must open before it closes on the same day, not {list(value)!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else SlaSettings._known_timezone(value)

    @model_validator(mode="after")
    def _days(self) -> CaseSettings:
        if not self.business_days or any(day not in range(7) for day in self.business_days):
            raise ValueError(f"business_days must list weekdays 0-6 (0 = Monday), not {self.business_days!r}")
        return self
