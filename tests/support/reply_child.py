"""The process the exactly-once reply tests SIGKILL: the real outbox and `ReplyNotifier` posting through a real source.

Run as `python -m tests.support.reply_child CONFIG`, CONFIG a JSON file with `database_url`, `network` ("bluesky"
or "mastodon"), `base_url` (the loopback network), `session_file` (Bluesky's kept session), `at` (the clock, ISO)
and `die_after_reply`: when true the process SIGKILLs itself as soon as the source's `reply` returned, so the
network holds the reply and the database still says "sending". It drains the outbox once and prints what it did.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.domain import Mention, PostedReply
from core.storage import Database
from core.storage.schema import AuditRow, OutboxRow, ReplyRow
from monitor.pipeline.deliver import Deliverer
from monitor.queue.context import mark_seen
from monitor.queue.items import claim
from monitor.queue.replies import ReplyNotifier, queue_reply
from sources.base import Source
from sources.bluesky import BlueskySource
from sources.mastodon import MastodonSource
from tests.support.bluesky import bluesky_secrets, mastodon_secrets
from tests.support.paths import ROOT
from tests.support.processes import Processes, wait_for
from tests.support.queue import NOW, seed
from tests.support.settings import make_settings

BLUESKY_SOURCE = "kestrel-bsky"
MASTODON_SOURCE = "kestrel-mastodon"


def build_source(network: str, base_url: str, session_file: str | bool = False) -> BlueskySource | MastodonSource:
    """The real source of `network`, talking to the loopback network at `base_url`."""
    if network == "bluesky":
        return BlueskySource(name=BLUESKY_SOURCE, brand="Kestrel Mobile", query=None, secrets=bluesky_secrets(),
                             options={"service_url": base_url, "session_file": session_file})
    return MastodonSource(name=MASTODON_SOURCE, brand="Kestrel Mobile", options={"instance_url": base_url,
                                                                               "search": False},
                          secrets=mastodon_secrets())


def die_after_reply(source: Source) -> None:
    """Make `source.reply` SIGKILL this process right after the network answered it, before anything is stored."""
    reply = source.reply

    def reply_then_die(mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        posted = reply(mention, text, idempotency_key=idempotency_key)
        print(f"the network took the reply as {posted.external_id}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: SIGKILL was sent")

    source.reply = reply_then_die  # type: ignore[method-assign]


def main(config_path: Path) -> None:
    """Drain the reply outbox once through the configured network's source."""
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    source = build_source(config["network"], config["base_url"], config.get("session_file") or False)
    if config.get("die_after_reply"):
        die_after_reply(source)
    at = datetime.fromisoformat(config["at"])
    db = Database(config["database_url"])
    notifier = ReplyNotifier(db, {source.name: source}, clock=lambda: at)
    deliverer = Deliverer(db, {"reply": notifier}, messages_per_second=1000, clock=lambda: at)
    settled = deliverer.recover_in_doubt()
    sent = deliverer.deliver_due()
    print(f"reply child finished: settled={settled} sent={sent}", flush=True)
    db.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1]))


# -- the test's side ------------------------------------------------------------------------------------
def queued_reply(db: Database, mention: Mention, source_name: str, text: str) -> int:
    """Store `mention` as `source_name` read it, route it, and queue ana's reply to it; return the reply's id."""
    mention_id, item_id = seed(db, make_settings(), [mention], source_name=source_name)[mention.external_id]
    assert item_id is not None, "the post was not routed to the queue"
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    return queue_reply(db, item_id, "ana", text, now=NOW).id


def run_reply_child(processes: Processes, tmp_path: Path, *, db: Database, network: str, base_url: str, at: datetime,
                    die: bool = False) -> tuple[int, str]:
    """Run the child once to its end (or its SIGKILL); return its exit status and what it printed."""
    config = tmp_path / f"reply-child-{len(list(tmp_path.glob('reply-child-*.json')))}.json"
    config.write_text(json.dumps({"database_url": str(db.url), "network": network, "base_url": base_url,
                                  "session_file": str(tmp_path / "bluesky.session"), "at": at.isoformat(),
                                  "die_after_reply": die}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDMON_")}
    child = processes.start([sys.executable, "-m", "tests.support.reply_child", str(config)], env=env, cwd=ROOT)
    wait_for(lambda: not child.alive(), what=f"the reply child ({network}) to exit")
    status = int(child.process.wait())
    if not die:
        assert status == 0 and "reply child finished" in child.stdout(), child.stderr()[-3000:]
    return status, child.stdout()


def reply_state(db: Database, reply_id: int) -> tuple[ReplyRow, OutboxRow, list[str]]:
    """The reply row, its outbox row and the audit actions of its queue item, oldest first."""
    with db.session() as session:
        reply = session.get(ReplyRow, reply_id)
        assert reply is not None
        outbox = session.get(OutboxRow, reply.outbox_id)
        actions = session.execute(select(AuditRow.action).where(AuditRow.queue_item_id == reply.queue_item_id)
                                  .order_by(AuditRow.id)).scalars().all()
    assert outbox is not None
    return reply, outbox, list(actions)
