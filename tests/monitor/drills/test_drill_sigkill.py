"""Fault drill: SIGKILL at injected points during poll, store, classify, delivery and reply; then a restart.

A real child process (tests/support/drill_child.py) runs the pipeline and kills itself with SIGKILL at the point named
in DRILL_KILL_AT; a second run finishes the work. Afterwards every post is stored and scored once, the loopback
Slack holds each alert exactly once, and the stand-in network holds each reply exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from core.storage.schema import QueueItemRow, ReplyRow
from monitor.queue.context import mark_seen
from monitor.queue.items import claim
from monitor.queue.replies import queue_reply
from tests.support.drills import line_count, outbox_keys, settings_for, slack_keys, streams, table_counts
from tests.support.paths import ROOT

#: Run as a module from the checkout, so the support package is importable and nothing shadows a real package.
CHILD = ["-m", "tests.support.drill_child"]
pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, slack_url: str) -> tuple[Path, list[Path], Path]:
    files = streams(tmp_path, sources=2, per_source=60)
    replies = tmp_path / "network-replies.tsv"
    settings = settings_for(f"sqlite:///{tmp_path / 'drill.db'}", files, slack_url=slack_url, batch_size=20)
    data = settings.model_dump(mode="json")
    for source in data["sources"]:
        source["options"]["replies_file"] = str(replies)
    config = tmp_path / "brandmon.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return config, files, replies


def run_child(config: Path, kill_at: str | None = None, nth: int = 1) -> int:
    env = {k: v for k, v in os.environ.items() if k != "BRANDMON_DATABASE_URL"}
    if kill_at:
        env |= {"DRILL_KILL_AT": kill_at, "DRILL_KILL_NTH": str(nth)}
    done = subprocess.run([sys.executable, *CHILD, str(config)], env=env, capture_output=True, timeout=120,
                          check=False, cwd=ROOT)
    if kill_at is None:
        assert done.returncode == 0 and b"drill child finished" in done.stdout, done.stderr.decode()[-3000:]
    return done.returncode


@pytest.mark.parametrize(("kill_at", "nth"), [("poll", 2), ("store", 3), ("classify", 1), ("deliver", 4)])
def test_sigkill_mid_step_loses_nothing_and_sends_nothing_twice(tmp_path: Path, kill_at: str, nth: int) -> None:
    with SlackLoopback() as slack:
        config, files, _ = write_config(tmp_path, slack.base_url)
        assert run_child(config, kill_at, nth) == -signal.SIGKILL, f"the child never reached {kill_at}"
        db = Database(f"sqlite:///{tmp_path / 'drill.db'}")
        killed = table_counts(db)
        assert killed["mentions"] < line_count(files) or killed.get("outbox_sent", 0) < len(outbox_keys(db))
        run_child(config)
        counts = table_counts(db)
        delivered = slack_keys(slack)
    assert counts["mentions"] == counts["distinct"] == counts["classified"] == counts["routed"] == line_count(files)
    assert set(delivered) == outbox_keys(db) and len(delivered) > 0, "an alert was lost"
    assert max(delivered.values()) == 1, f"alerts sent twice: {[k for k, n in delivered.items() if n > 1]}"
    db.dispose()


def queue_replies(db: Database, count: int) -> list[int]:
    with db.session() as session:
        items = session.execute(select(QueueItemRow.id, QueueItemRow.mention_id).order_by(QueueItemRow.id)
                                .limit(count)).all()
    assert len(items) == count
    for item_id, mention_id in items:
        claim(db, item_id, "ana")
        mark_seen(db, item_id, mention_id, "ana")
        queue_reply(db, item_id, "ana", f"Sorry about that, we're on it (#{item_id})")
    return [item_id for item_id, _ in items]


def reply_drill(tmp_path: Path, kill_at: str) -> tuple[Counter[str], Database]:
    with SlackLoopback() as slack:
        config, _, network = write_config(tmp_path, slack.base_url)
        run_child(config)
        db = Database(f"sqlite:///{tmp_path / 'drill.db'}")
        queue_replies(db, 4)
        assert run_child(config, kill_at, 2) == -signal.SIGKILL, f"the child never reached {kill_at}"
        run_child(config)
    posted = Counter(line.split("\t", 1)[0] for line in network.read_text(encoding="utf-8").splitlines())
    return posted, db


def test_sigkill_with_a_reply_on_its_way_posts_each_reply_once(tmp_path: Path) -> None:
    posted, db = reply_drill(tmp_path, "reply-queued")
    with db.session() as session:
        statuses = session.execute(select(ReplyRow.status)).scalars().all()
    assert statuses == ["posted"] * 4
    assert len(posted) == 4 and max(posted.values()) == 1, f"replies posted twice: {posted}"
    db.dispose()


@pytest.mark.xfail(strict=True, reason="a reply the network accepted just before the process died is posted again: "
                   "ReplyNotifier.find_sent only checks the database; sources need a way to find their own reply")
def test_sigkill_after_the_network_took_a_reply_posts_it_once(tmp_path: Path) -> None:
    posted, db = reply_drill(tmp_path, "reply-posted")
    assert len(posted) == 4 and max(posted.values()) == 1, f"replies posted twice: {posted}"
    db.dispose()
