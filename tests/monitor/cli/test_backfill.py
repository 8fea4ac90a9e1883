"""`brandmon backfill` reads every source to its end as history: no Slack alerts, no deadlines to breach."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from core.storage import Database
from core.storage.schema import AlertRow, OutboxRow, QueueItemRow
from monitor.cli import main

ANGRY = "Kestrel Mobile has had no signal all day, this is the worst service ever and nobody answers"


def _post(number: int, at: datetime, text: str = ANGRY) -> dict[str, Any]:
    return {"id": str(1000 + number), "network": "x", "brand": "Kestrel Mobile", "author_handle": f"user{number}",
            "author_name": f"User {number}", "author_followers": 10, "text": text, "lang": "en",
            "created_at": at.isoformat().replace("+00:00", "Z"), "url": f"https://x.com/u/status/{1000 + number}"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    now = datetime.now(UTC)
    old = [_post(i, datetime(2017, 10, 30, 9, tzinfo=UTC) + timedelta(hours=i)) for i in range(20)]
    recent = [_post(100, now - timedelta(minutes=5))]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps(post) + "\n" for post in old + recent), encoding="utf-8")
    data = {
        "database_url": f"sqlite:///{tmp_path / 'brandmon.db'}",
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "feed", "type": "replay", "brand": "Kestrel Mobile",
                     "options": {"path": str(feed), "batch_size": 7}}],
        "classifier": {"kind": "lexicon"},
        "slack": {"base_url": "https://slack.invalid/api/", "max_attempts": 1,
                  "routes": [{"name": "all", "channel": "#care", "min_urgency": 0.0}]},
    }
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_backfill_queues_history_without_alerts_or_breaches(config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["backfill", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "feed: 21 read, 21 new (exhausted" in result.output
    db = Database(f"sqlite:///{tmp_path / 'brandmon.db'}")
    with db.session() as session:
        slack = session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == "slack"))
        statuses = dict(session.execute(select(QueueItemRow.status, func.count()).group_by(QueueItemRow.status)).all())
        held = session.scalars(select(AlertRow.suppressed_reason).where(AlertRow.outbox_id.is_(None))).all()
    assert slack == 1  # only the post from five minutes ago
    assert statuses.get("not_relevant") == 20 and sum(statuses.values()) == 21
    assert len(held) == 20 and all(reason.startswith("history: ") for reason in held)
    assert "20 as history" in result.output


def test_since_keeps_only_later_posts(config: Path) -> None:
    result = CliRunner().invoke(main, ["backfill", "-c", str(config), "--since", "2017-10-30T20:00"])
    assert result.exit_code == 0, result.output
    assert "feed: 21 read, 10 new, 11 before --since skipped" in result.output


def test_a_bad_since_is_one_line(config: Path) -> None:
    result = CliRunner().invoke(main, ["backfill", "-c", str(config), "--since", "last tuesday"])
    assert result.exit_code != 0 and "--since 'last tuesday'" in result.output
