"""Small labelled streams and configs for the `brandmon evaluate --stream` and `calibrate` tests (written by us)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: (text, brand, labels): how the lexicon model reads each is in the comment beside it.
POSTS: list[tuple[str, str, dict[str, Any]]] = [
    # negative complaint: the `negatives` route alerts (true positive)
    ("@acme this is terrible, awful service", "Acme",
     {"sentiment": "negative", "complaint": True, "category": "other", "needs_reply": "respond"}),
    # positive: a thank-you item
    ("@acme I love this, thank you so much, great work", "Acme",
     {"sentiment": "positive", "complaint": False, "category": "none", "needs_reply": "thank"}),
    # read as negative, labelled neutral: `negatives` alerts wrongly (false positive)
    ("@acme I hate Mondays, nothing wrong here", "Acme",
     {"sentiment": "neutral", "complaint": False, "needs_reply": "none"}),
    # sarcasm read as positive: `negatives` misses it (false negative), `complaints` catches it
    ("@acme great, another outage, thanks a lot", "Acme",
     {"sentiment": "negative", "complaint": True, "category": "outage", "needs_reply": "respond", "irony": True}),
    # news: nothing to do
    ("acme store opens at nine today", "Acme", {"sentiment": "neutral", "complaint": False, "needs_reply": "none"}),
    # a competitor's complaint: tracked, never alerted
    ("@orbital this is terrible, awful service", "Orbital", {"sentiment": "negative", "complaint": True}),
]


def write_stream(path: Path, posts: list[tuple[str, str, dict[str, Any]]] = POSTS) -> Path:
    """Write `posts` as a labelled JSON Lines stream, ten minutes apart, each by its own author."""
    lines = []
    for index, (text, brand, labels) in enumerate(posts):
        lines.append(json.dumps({"id": f"p{index}", "network": "x", "brand": brand, "author_handle": f"user{index}",
                                 "text": text, "lang": "en",
                                 "created_at": (START + timedelta(minutes=10 * index)).isoformat(), **labels}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config(path: Path, *, routes: list[dict[str, Any]] | None = None, slack_url: str = "loopback",
                 extra: dict[str, Any] | None = None) -> Path:
    """Write a config with the lexicon model, Acme and its competitor Orbital, and `routes`."""
    data: dict[str, Any] = {
        "database_url": f"sqlite:///{path.parent / 'brandmon.db'}",
        "brands": [{"name": "Acme", "query": "acme", "handles": {"x": "acme"}},
                   {"name": "Orbital", "query": "orbital", "own": False}],
        "classifier": {"kind": "lexicon", "data_dir": str(path.parent / "data")},
        "slack": {"base_url": slack_url, "max_age_min": 60, "routes": routes if routes is not None else [
            {"name": "negatives", "channel": "#care", "brands": ["Acme"], "sentiments": ["negative"]},
            {"name": "complaints", "channel": "#complaints", "brands": ["Acme"], "complaint": True},
        ]},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
