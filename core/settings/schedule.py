"""Scheduler intervals and the weekly digest."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from core.settings.base import _Model
from core.settings.sla import SlaSettings


class SchedulerSettings(_Model):
    """How often each downstream step runs."""

    classify_interval_s: float = Field(default=5.0, gt=0)
    route_interval_s: float = Field(default=5.0, gt=0)
    deliver_interval_s: float = Field(default=2.0, gt=0)

class DigestSettings(_Model):
    """The weekly digest: when it is made, where the HTML goes, which Slack channel gets the summary."""

    #: Make each own brand's digest every week on the scheduler (`brandmon run`).
    enabled: bool = True
    #: Slack channel for the short summary; none means the report is only written to `out_dir`.
    slack_channel: str | None = None
    out_dir: str = "digests"
    #: When the weekly job runs, in `timezone`: day (mon..sun) and HH:MM; it reports the week just ended.
    schedule_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    schedule_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    #: Weeks and days start at midnight here.
    timezone: str = "UTC"
    #: How many earlier weeks the sentiment trend compares against.
    previous_weeks: int = Field(default=4, ge=1, le=26)
    max_themes: int = Field(default=6, ge=1, le=20)
    #: "minilm" (sentence embeddings + words; needs torch) or "tfidf" (words only, no torch).
    theme_embedder: Literal["minilm", "tfidf"] = "minilm"
    #: Where the reports are served (e.g. https://intranet.example/digests/); the Slack summary links there.
    report_base_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_digest_timezone(cls, value: str) -> str:
        return SlaSettings._known_timezone(value)  # type: ignore[call-arg]
