"""Typed settings read from one YAML file, one module per area; secrets come from the environment only."""

from __future__ import annotations

from core.settings.base import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, ConfigError, UrgencyLevel
from core.settings.brands import BrandSettings, ClassifierSettings, SourceSettings
from core.settings.loading import load_settings, parse_settings
from core.settings.model import Settings
from core.settings.queue import QueueSettings, SavedReplySettings, WebSettings
from core.settings.schedule import DigestSettings, SchedulerSettings
from core.settings.secrets import Secrets
from core.settings.sla import SlaSettings, SlaTarget
from core.settings.slack import QuietHours, RouteRule, SlackSettings, SpikeSettings
from core.settings.translation import TranslationSettings

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "BrandSettings",
    "ClassifierSettings",
    "ConfigError",
    "DigestSettings",
    "QueueSettings",
    "QuietHours",
    "RouteRule",
    "SavedReplySettings",
    "SchedulerSettings",
    "Secrets",
    "Settings",
    "SlaSettings",
    "SlaTarget",
    "SlackSettings",
    "SourceSettings",
    "SpikeSettings",
    "TranslationSettings",
    "UrgencyLevel",
    "WebSettings",
    "load_settings",
    "parse_settings",
]
