"""Kill `brandmon run` with SIGKILL at random moments; after a restart nothing is lost and nothing sent twice."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow, OutboxRow, RoutingRow, SourceStateRow
from monitor.demo import DEMO_CONFIG, SAMPLE_STREAM
from tests.support.processes import Child, Processes
from tests.support.processes import wait_for as settle

pytestmark = pytest.mark.slow
EXPECTED_MENTIONS = sum(1 for line in SAMPLE_STREAM.open(encoding="utf-8") if line.strip())


def write_config(tmp_path: Path, slack_url: str) -> Path:
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["options"].update(path=str(SAMPLE_STREAM), batch_size=3)
        source["options"].pop("rebase", None)
        source["poll_interval_s"] = 0.3
    # the sample stream is dated November 2026: replay it as live traffic, not as history
    data["slack"].update(base_url=slack_url, in_doubt_after_s=1, max_age_min=100 * 365 * 24 * 60)
    data["scheduler"] = {"classify_interval_s": 0.3, "route_interval_s": 0.3, "deliver_interval_s": 0.3}
    data["database_url"] = f"sqlite:///{tmp_path / 'crash.db'}"
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def start(processes: Processes, config: Path) -> Child:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("BRANDMON_DATABASE_URL", None)
    return processes.start([sys.executable, "-m", "monitor", "run", "-c", str(config)], env=env)


def wait_until_running(child: Child) -> None:
    settle(lambda: "Ctrl-C stops" in child.stdout() or not child.alive(), what="brandmon run starting")
    assert child.alive(), child.stderr()[-2000:]


def finished(db: Database) -> bool:
    with db.session() as session:
        mentions = session.execute(select(func.count()).select_from(MentionRow)).scalar_one()
        routed = session.execute(select(func.count()).select_from(RoutingRow)).scalar_one()
        open_outbox = session.execute(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.status != "sent")
        ).scalar_one()
        exhausted = session.execute(select(SourceStateRow.exhausted)).scalars().all()
    return (mentions == EXPECTED_MENTIONS and routed == mentions and open_outbox == 0 and len(exhausted) == 3
            and all(exhausted))


def test_sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice(tmp_path: Path,
                                                                        processes: Processes) -> None:
    rng = random.Random(20261123)
    with SlackLoopback() as slack:
        config = write_config(tmp_path, slack.base_url)
        db = Database(f"sqlite:///{tmp_path / 'crash.db'}")
        kills = 0
        for _ in range(5):
            child = start(processes, config)
            wait_until_running(child)
            time.sleep(rng.uniform(0.5, 3.0))  # a random moment of the running process, not a budget
            if not child.alive():
                pytest.fail(f"brandmon run exited early: {child.stderr()[-2000:]}")
            child.kill()  # SIGKILL to its whole process group
            kills += 1
        child = start(processes, config)
        wait_until_running(child)
        assert not finished(db), "the kills came too late to interrupt the stream; slow the stream down"
        settle(lambda: finished(db), every_s=0.5, what="the restarted process finishing the stream")
        returncode = child.stop(signal.SIGINT)  # Ctrl-C: a clean stop
        assert returncode == 0, child.stderr()[-2000:]

        with db.session() as session:
            ids = session.execute(select(MentionRow.external_id)).scalars().all()
            classified = session.execute(select(func.count()).select_from(ClassificationRow)).scalar_one()
            sent_keys = set(session.execute(select(OutboxRow.dedupe_key)).scalars().all())
        expected_ids = {line.split('"id": "', 1)[1].split('"', 1)[0] for line in SAMPLE_STREAM.open(encoding="utf-8")}
        assert kills == 5
        assert set(ids) == expected_ids and len(ids) == EXPECTED_MENTIONS
        assert classified == EXPECTED_MENTIONS
        delivered = Counter(m["metadata"]["event_payload"]["dedupe_key"] for m in slack.all_messages())
        assert set(delivered) == sent_keys
        duplicates = {key: n for key, n in delivered.items() if n > 1}
        assert not duplicates, f"alerts sent twice: {duplicates}"
        db.dispose()
