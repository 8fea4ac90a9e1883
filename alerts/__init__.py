"""Delivery channels (Slack first): each a `Notifier` plugin built from one registry, importing only core."""

from __future__ import annotations

from typing import Any

from alerts.base import DeliveryError, Notifier
from core.registry import PluginUnavailable, load_entry

#: Channel kind -> "module:Class". Adding a channel is one module and one line here.
REGISTRY: dict[str, str] = {
    "slack": "alerts.slack:SlackNotifier",
}


def build_channel(kind: str, **options: Any) -> Notifier:
    """Build the channel registered under `kind`; an unknown or uninstallable one raises `PluginUnavailable`."""
    cls = load_entry(REGISTRY, kind, what="alert channel", error=PluginUnavailable)
    return cls(**options)  # type: ignore[no-any-return]


__all__ = ["REGISTRY", "DeliveryError", "Notifier", "PluginUnavailable", "build_channel"]
