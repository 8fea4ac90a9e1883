"""Helpers for the language tests: queued posts in given languages, and a config file pointing at them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import update

from core.settings import Settings
from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow
from tests.support.queue import Labels, post, seed


def seed_in_languages(db: Database, settings: Settings, posts: Mapping[str, tuple[str, str | None]],
                      labels: Mapping[str, Labels] | None = None, **kw: Any) -> dict[str, tuple[int, int | None]]:
    """Store, score and queue posts `{external id: (text, language)}`, the language stored as detected and scored."""
    mentions = [replace(post(external_id, text, handle=f"user{external_id}", name=f"Cliente {external_id}"),
                        language=language) for external_id, (text, language) in posts.items()]
    seeded = seed(db, settings, mentions, dict(labels or {}), **kw)
    with db.session() as session:
        for external_id, (_, language) in posts.items():
            mention_id = seeded[external_id][0]
            session.execute(update(ClassificationRow).where(ClassificationRow.mention_id == mention_id)
                            .values(language=language))
            session.execute(update(MentionRow).where(MentionRow.id == mention_id).values(language=language))
    return seeded


def write_config(path: Path, url: str, **sections: Any) -> Path:
    """Write a brandmon.yaml for `url` with one brand (Kestrel Mobile), Slack off, and `sections` merged in."""
    data: dict[str, Any] = {
        "database_url": url,
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "x-kestrel", "type": "replay", "brand": "Kestrel Mobile",
                     "options": {"path": str(path.parent / "none.jsonl")}}],
        "slack": {"enabled": False},
    }
    data.update(sections)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
