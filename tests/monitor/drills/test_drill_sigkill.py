"""Fault drill: SIGKILL at injected points during poll, store, classify, delivery and reply; then a restart.

A real child process (tests/support/drill_child.py) runs the pipeline and kills itself with SIGKILL at the point named
in DRILL_KILL_AT; a second run finishes the work. Afterwards every post is stored and scored once, the loopback
Slack holds each alert exactly once, and the stand-in network holds each reply exactly once.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from core.storage.schema import AuditRow, QueueItemRow, ReplyRow
from monitor.queue.context import mark_seen
from monitor.queue.items import claim
from monitor.queue.replies import queue_reply
from tests.support.drill_child import network_replies
from tests.support.drills import line_count, outbox_keys, settings_for, slack_keys, streams, table_counts
from tests.support.paths import ROOT
from tests.support.processes import Processes, wait_for

#: Run as a module from the checkout, so the support package is importable and nothing shadows a real package.
CHILD = ["-m", "tests.support.drill_child"]
pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, slack_url: str) -> tuple[Path, list[Path], Path]:
    files = streams(tmp_path, sources=2, per_source=60)
    replies = tmp_path / "network-replies.jsonl"
    settings = settings_for(f"sqlite:///{tmp_path / 'drill.db'}", files, slack_url=slack_url, batch_size=20)
    data = settings.model_dump(mode="json")
    for source in data["sources"]:
        source["options"]["replies_file"] = str(replies)
    config = tmp_path / "brandmon.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return config, files, replies


def run_child(processes: Processes, config: Path, kill_at: str | None = None, nth: int = 1) -> int:
    """Run the drill child to its end (or its kill point) and return its exit status."""
    env = {k: v for k, v in os.environ.items() if k != "BRANDMON_DATABASE_URL"}
    if kill_at:
        env |= {"DRILL_KILL_AT": kill_at, "DRILL_KILL_NTH": str(nth)}
    child = processes.start([sys.executable, *CHILD, str(config)], env=env, cwd=ROOT)
    wait_for(lambda: not child.alive(), what=f"the drill child (kill at {kill_at or 'nothing'}) to exit")
    status = child.process.wait()
    if kill_at is None:
        assert status == 0 and "drill child finished" in child.stdout(), child.stderr()[-3000:]
    return status


@pytest.mark.parametrize(("kill_at", "nth"), [("poll", 2), ("store", 3), ("classify", 1), ("deliver", 4)])
def test_sigkill_mid_step_loses_nothing_and_sends_nothing_twice(tmp_path: Path, kill_at: str, nth: int,
                                                                processes: Processes) -> None:
    with SlackLoopback() as slack:
        config, files, _ = write_config(tmp_path, slack.base_url)
        assert run_child(processes, config, kill_at, nth) == -signal.SIGKILL, f"the child never reached {kill_at}"
        db = Database(f"sqlite:///{tmp_path / 'drill.db'}")
        killed = table_counts(db)
        assert killed["mentions"] < line_count(files) or killed.get("outbox_sent", 0) < len(outbox_keys(db))
        run_child(processes, config)
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


def reply_drill(tmp_path: Path, processes: Processes, kill_at: str) -> tuple[Counter[str], Database]:
    """Queue four replies, SIGKILL the child at `kill_at` on the second, restart it; count what the network holds."""
    with SlackLoopback() as slack:
        config, _, network = write_config(tmp_path, slack.base_url)
        run_child(processes, config)
        db = Database(f"sqlite:///{tmp_path / 'drill.db'}")
        queue_replies(db, 4)
        assert run_child(processes, config, kill_at, 2) == -signal.SIGKILL, f"the child never reached {kill_at}"
        run_child(processes, config)
    posted = Counter(record["in_reply_to"] for record in network_replies(network))
    return posted, db


def test_sigkill_with_a_reply_on_its_way_posts_each_reply_once(tmp_path: Path, processes: Processes) -> None:
    posted, db = reply_drill(tmp_path, processes, "reply-queued")
    with db.session() as session:
        statuses = session.execute(select(ReplyRow.status)).scalars().all()
    assert statuses == ["posted"] * 4
    assert len(posted) == 4 and max(posted.values()) == 1, f"replies posted twice: {posted}"
    db.dispose()


def test_sigkill_after_the_network_took_a_reply_posts_it_once(tmp_path: Path, processes: Processes) -> None:
    posted, db = reply_drill(tmp_path, processes, "reply-posted")
    assert len(posted) == 4 and max(posted.values()) == 1, f"replies posted twice: {posted}"
    with db.session() as session:
        replies = session.execute(select(ReplyRow).order_by(ReplyRow.id)).scalars().all()
        settled = session.execute(select(AuditRow).where(AuditRow.action == "reply_settled")).scalars().all()
        items = {r.queue_item_id: session.get(QueueItemRow, r.queue_item_id) for r in replies}
    assert [r.status for r in replies] == ["posted"] * 4
    # the reply the network took just before the SIGKILL was found there and settled, not posted again
    assert len(settled) == 1 and settled[0].detail["external_id"] == replies[1].external_id
    assert all(r.external_id and r.posted_at for r in replies)
    assert all(item is not None and item.status == "replied" and item.first_response_at for item in items.values())
    keys = [record["key"] for record in network_replies(tmp_path / "network-replies.jsonl")]
    assert sorted(keys) == sorted(f"brandmon-reply-{r.id}" for r in replies)
    db.dispose()
