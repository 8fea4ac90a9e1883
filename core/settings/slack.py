"""Slack delivery settings: routes, quiet hours and spike detection."""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from core.settings.base import _Model
from core.settings.sla import SlaSettings


class RouteRule(_Model):
    """Send matching posts to a Slack channel; every condition left out matches anything."""

    name: str = Field(min_length=1, max_length=100)
    channel: str = Field(min_length=1, max_length=200)
    brands: list[str] | None = None
    networks: list[str] | None = None
    sentiments: list[Literal["negative", "neutral", "positive"]] | None = None
    complaint: bool | None = None
    urgency_categories: list[str] | None = None
    min_urgency: float = Field(default=0.0, ge=0, le=1)
    #: The alert precision this route needs on labelled data: `brandmon calibrate` sets `min_urgency` to reach it.
    min_precision: float | None = Field(default=None, gt=0, le=1)
    min_followers: int | None = Field(default=None, ge=0)
    verified_only: bool = False
    languages: list[str] | None = None
    #: After a new top-level message from this rule, hold back further new ones this long (incidents still grow).
    cooldown_s: float = Field(default=0.0, ge=0)
    #: Posts that join an open incident go in its thread; off keeps only the updated count.
    thread_replies: bool = True
    #: Rules are tried in order and the first match wins; true lets the rules below match the post too.
    keep_matching: bool = False
    #: Non-urgent routes: collect alerts for this many minutes and send one summary per channel per window;
    #: left out, every alert goes at once.
    batch_every_min: int | None = Field(default=None, gt=0, le=24 * 60)

class QuietHours(_Model):
    """Quiet hours of one channel: only posts with urgency at or above `break_urgency` notify during them."""

    channel: str = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"
    #: Weekdays (0 = Monday) on which quiet hours begin; all days when left out.
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    break_urgency: float = Field(default=0.75, ge=0, le=1)
    #: "hold" sends the alert when quiet hours end; "drop" only records it (the queue item stays).
    action: Literal["hold", "drop"] = "hold"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return SlaSettings._known_timezone(value)

class SpikeSettings(_Model):
    """Spike detection per brand: volume and negative share against an hour-of-week baseline."""

    #: Channel that hears about spikes; detection is off while this is unset.
    channel: str | None = None
    brands: list[str] | None = None
    interval_s: float = Field(default=300.0, gt=0)
    #: Sudden burst: posts in the last `window_min` against the same window in past weeks.
    window_min: int = Field(default=60, gt=0, le=24 * 60)
    burst_factor: float = Field(default=3.0, gt=1)
    min_posts: int = Field(default=10, gt=0)
    #: Slow climb: `climb_hours` hours each at least the one before, all together `climb_factor` times normal.
    climb_hours: int = Field(default=4, ge=2, le=24)
    climb_factor: float = Field(default=2.0, gt=1)
    #: Negative share this far above its baseline alerts even when volume is normal.
    negative_share_delta: float = Field(default=0.25, gt=0, le=1)
    baseline_weeks: int = Field(default=4, gt=0, le=26)
    cooldown_s: float = Field(default=3600.0, ge=0)

def _is_loopback(host: str) -> bool:
    """True for localhost names and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SlackSettings(_Model):
    """Slack delivery: where the Web API is, routing rules, quiet hours, incidents, spikes, the per-channel rate."""

    enabled: bool = True
    #: Web API base URL; point it at a loopback server in tests and the demo.
    base_url: str = "https://slack.com/api/"
    routes: list[RouteRule] = Field(default_factory=list)
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    messages_per_second: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=50, gt=0)
    #: A message left "sending" this long belongs to a process that died mid-send and is checked in Slack.
    in_doubt_after_s: float = Field(default=30.0, gt=0)
    #: A post joins an incident whose newest post is at most this old (by post time).
    incident_window_min: int = Field(default=120, gt=0)
    #: Word-shingle overlap (Jaccard) from which two posts count as the same wording.
    incident_similarity: float = Field(default=0.5, gt=0, le=1)
    #: Urgency categories where a brand's posts close together in time are one incident (an outage is one story).
    incident_categories: list[str] = Field(default_factory=lambda: ["outage"])
    #: How close together (by post time) posts must be to join on their category alone.
    incident_category_gap_min: int = Field(default=30, gt=0)
    #: Thread replies per incident at most; later posts only update the count.
    incident_thread_max: int = Field(default=50, ge=0)
    incident_examples: int = Field(default=3, ge=1, le=10)
    #: Public URL of the web app, for "Open in queue" buttons; the button is left out while unset.
    queue_url: str | None = None
    #: A post older than this when it is routed is history (a backfill, a replay, a long outage): it is queued
    #: without SLA deadlines to breach and sends no Slack alert.
    max_age_min: int = Field(default=60, gt=0)
    #: With `base_url: loopback`, the JSON Lines file that keeps each message shown, for `brandmon alerts log`.
    loopback_log: str = "slack-loopback.jsonl"
    #: Channel for posts flagged as scams or impostors (README, "Scams and impostors"); unset: the first route
    #: of the post's brand gets them, marked as a suspected impersonation.
    security_channel: str | None = Field(default=None, min_length=1, max_length=200)
    #: Signed interactivity requests older than this are refused as replays.
    signature_max_age_s: int = Field(default=300, gt=0)
    spikes: SpikeSettings = SpikeSettings()

    @field_validator("base_url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        """The bot token travels with every call: refuse plain HTTP except to this machine."""
        if value.strip().lower() == "loopback":
            return value
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host:
            return value
        if parts.scheme == "http" and _is_loopback(host):
            return value
        raise ValueError(f"{value!r} must be an https:// URL (plain http only to localhost or 127.0.0.1); "
                         "the bot token is sent with every call")

    @model_validator(mode="after")
    def _names_unique(self) -> SlackSettings:
        seen: set[str] = set()
        for i, rule in enumerate(self.routes):
            if rule.name in seen:
                raise ValueError(f"routes[{i}].name: duplicate route {rule.name!r}")
            seen.add(rule.name)
        return self
