"""SLA targets per urgency level, counted in business hours."""

from __future__ import annotations

from pydantic import Field, field_validator

from core.settings.base import UrgencyLevel, _Model


class SlaTarget(_Model):
    """Minutes to the first public answer and to resolution."""

    first_response_min: int = Field(gt=0)
    resolution_min: int = Field(gt=0)

class SlaSettings(_Model):
    """SLA targets per urgency level, counted in business hours of one time zone."""

    timezone: str = "UTC"
    business_hours: tuple[str, str] | None = None
    business_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    critical: SlaTarget = SlaTarget(first_response_min=15, resolution_min=240)
    high: SlaTarget = SlaTarget(first_response_min=60, resolution_min=480)
    normal: SlaTarget = SlaTarget(first_response_min=240, resolution_min=1440)
    low: SlaTarget = SlaTarget(first_response_min=1440, resolution_min=4320)
    #: Urgency score from which a post counts as each level.
    level_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"critical": 0.75, "high": 0.5, "normal": 0.25}
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def target(self, level: str) -> SlaTarget:
        """Return the SLA target for an urgency level."""
        return getattr(self, level)  # type: ignore[no-any-return]

    def level_for(self, urgency_score: float) -> UrgencyLevel:
        """Map an urgency score to its level."""
        for level in ("critical", "high", "normal"):
            if urgency_score >= self.level_thresholds.get(level, 1.1):
                return level  # type: ignore[return-value]
        return "low"
