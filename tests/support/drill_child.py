"""The process the SIGKILL drills kill: the real pipeline over a config file, with one injected kill point.

Run as `python drill_child.py CONFIG`. DRILL_KILL_AT names where the process SIGKILLs itself and DRILL_KILL_NTH
at which occurrence (1 = the first): "poll" (a batch fetched, not stored), "store" (mentions inserted, not
committed), "classify" (scores inserted, not committed), "deliver" (Slack has the message, the outbox does not
know), "reply-queued" (the reply's outbox row is "sending", not yet posted) and "reply-posted" (the network has
the reply, the database does not know). Without DRILL_KILL_AT it runs to the end. The stand-in network is the
source's `replies_file` (JSON Lines), which `find_reply` reads as a real network's lookup of the brand's replies.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from core.domain import Batch, Mention, PostedReply, ReplyPath
from core.settings import Secrets, load_settings
from core.storage import Database
from monitor.pipeline import Pipeline, build_notifiers
from sources.replay import ReplaySource

KILL_AT = os.environ.get("DRILL_KILL_AT", "")
KILL_NTH = int(os.environ.get("DRILL_KILL_NTH", "1"))
_hits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """SIGKILL this process at the configured occurrence of `name`."""
    if name != KILL_AT:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == KILL_NTH:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


class DrillSource(ReplaySource):
    """A replay source that can post replies, to a file standing in for the network (one line per reply)."""

    network = "x"

    def poll(self, cursor: str | None) -> Batch:
        """Read the next batch, then maybe die before it is stored."""
        batch = super().poll(cursor)
        if batch.mentions:
            checkpoint("poll")
        return batch

    def _normalise(self, record: dict[str, Any]) -> Mention | None:
        mention = super()._normalise(record)
        # a post from a live network can be answered through the API; a replayed one normally cannot
        return None if mention is None else replace(mention, reply_path=ReplyPath.API, reply_path_reason=None)

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Append the reply to the network file (it is public from here on), then maybe die before it is recorded."""
        posted = PostedReply(external_id=f"r-{mention.external_id}",
                             url=f"https://x.com/i/status/r-{mention.external_id}", posted_at=datetime.now(UTC))
        record = {"id": posted.external_id, "in_reply_to": mention.external_id, "text": text, "key": idempotency_key,
                  "posted_at": posted.posted_at.isoformat()}
        with self.network_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        checkpoint("reply-posted")
        return posted

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Find the brand's reply to `mention` in the network file, as a real network's own-replies lookup would."""
        for record in network_replies(self.network_file):
            if record["in_reply_to"] == mention.external_id and record["text"] == text:
                return PostedReply(external_id=record["id"], url=f"https://x.com/i/status/{record['id']}",
                                   posted_at=datetime.fromisoformat(record["posted_at"]), raw=record)
        return None

    @property
    def network_file(self) -> Path:
        """The file standing in for the network: one JSON object per reply it accepted."""
        return Path(str(self.options["replies_file"]))


def network_replies(path: Path) -> list[dict[str, Any]]:
    """Return the replies the stand-in network holds, in the order it took them."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(config: Path) -> None:
    """Run the loop to the end of every stream and drain the outbox, dying where told."""
    settings = load_settings(config)
    db = Database(settings.database_url)
    db.migrate()

    @event.listens_for(db.engine, "after_cursor_execute")
    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO mentions"):
            checkpoint("store")
        elif statement.startswith("INSERT INTO classifications"):
            checkpoint("classify")

    sources = {s.name: DrillSource(name=s.name, brand=s.brand, options=s.options) for s in settings.sources}
    from models.lexicon import LexiconClassifier

    notifiers = build_notifiers(settings, Secrets(), db=db, sources=sources)
    slack = notifiers["slack"]
    send = slack.send

    def send_then_maybe_die(delivery: Any) -> dict[str, Any]:
        result = send(delivery)
        checkpoint("deliver")
        return result

    slack.send = send_then_maybe_die  # type: ignore[method-assign]
    replies = notifiers["reply"]
    reply_send = replies.send

    def reply_after_claim(delivery: Any) -> dict[str, Any]:
        checkpoint("reply-queued")
        return reply_send(delivery)

    replies.send = reply_after_claim  # type: ignore[method-assign]
    pipeline = Pipeline(settings, db, classifier=LexiconClassifier(), sources=sources, notifiers=notifiers)
    pipeline.deliverer.sleep = lambda _s: None
    pipeline.deliverer.recover_in_doubt(older_than_s=0)  # this drill restarts at once: settle what is in doubt
    active = set(sources)
    while active:
        for name in sorted(active):
            outcome = pipeline.poll(name)
            if outcome.error:
                raise SystemExit(f"source {name}: {outcome.error}")
            if outcome.exhausted:
                active.discard(name)
        pipeline.downstream()
    while pipeline.deliver():
        pass
    print("drill child finished", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
