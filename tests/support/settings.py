"""Valid settings for tests: one own brand and one competitor, with overrides."""

from __future__ import annotations

from typing import Any

from core.settings import Settings, parse_settings


def make_settings(**overrides: Any) -> Settings:
    """Return valid settings for one own brand and one competitor, with overrides applied."""
    data: dict[str, Any] = {
        "brands": [
            {"name": "Kestrel Mobile", "query": "kestrel", "competitors": ["Orbital Telecom"]},
            {"name": "Orbital Telecom", "query": "orbital", "own": False},
        ],
        "slack": {
            "messages_per_second": 1000,
            "routes": [
                {"name": "urgent", "channel": "#care-urgent", "brands": ["Kestrel Mobile"], "min_urgency": 0.5},
                {"name": "complaints", "channel": "#care-complaints", "complaint": True},
            ],
        },
    }
    data.update(overrides)
    return parse_settings(data, origin="test.yaml")
