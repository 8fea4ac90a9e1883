"""A Bluesky reply the network took just before a SIGKILL is found in the thread on restart, never posted twice.

The real outbox, `ReplyNotifier` and `BlueskySource` (the atproto SDK) run in a child process against a loopback
PDS (`tests/support/reply_networks.py`) whose every request and answer is checked against the lexicons and whose
posts are the SDK's recorded post view. The child SIGKILLs itself right after `createRecord` answered, before
the reply is recorded; the restarted child reads the thread (`getPostThread`), settles the reply from it, and
creates nothing.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from core.storage import Database
from tests.support.processes import Processes
from tests.support.queue import NOW
from tests.support.reply_child import BLUESKY_SOURCE, build_source, queued_reply, reply_state, run_reply_child
from tests.support.reply_networks import CREATE, THREAD, BlueskyNetwork
from tests.support.sources import no_network

pytestmark = [pytest.mark.usefixtures("no_network"), pytest.mark.slow]
__all__ = ["no_network"]


def test_a_reply_taken_before_a_sigkill_is_settled_from_the_thread_not_posted_again(
        sqlite_db: Database, tmp_path: Path, processes: Processes) -> None:
    with BlueskyNetwork() as network:
        base_url = network.http.base_url
        poller = build_source("bluesky", base_url)  # normalises the post as a poll would; it calls nothing
        mention = replace(poller.normalise(network.post), created_at=NOW - timedelta(minutes=5))
        text = f"@{mention.author_handle} so sorry: engineers are on it, see https://status.kestrel.example"
        reply_id = queued_reply(sqlite_db, mention, BLUESKY_SOURCE, text)

        status, said = run_reply_child(processes, tmp_path, db=sqlite_db, network="bluesky", base_url=base_url,
                                       at=NOW, die=True)
        assert status == -signal.SIGKILL, said
        (taken,) = network.brand_replies()
        assert f"the network took the reply as {taken['uri']}" in said
        reply, outbox, _ = reply_state(sqlite_db, reply_id)
        assert (reply.status, reply.external_id, outbox.status) == ("sending", None, "sending")  # what SIGKILL left

        calls_before = len(network.api.names())
        _, said = run_reply_child(processes, tmp_path, db=sqlite_db, network="bluesky", base_url=base_url,
                                  at=NOW + timedelta(minutes=10))
        restart_calls = network.api.names()[calls_before:]
    assert not network.http.errors, network.http.errors
    assert "settled=1 sent=0" in said
    assert network.created() == [CREATE] and network.brand_replies() == [taken]  # one reply post, ever
    assert THREAD in restart_calls and CREATE not in restart_calls
    # the restart reused the kept session: Bluesky's 30 session creations per 5 minutes are not spent on crashes
    assert "com.atproto.server.createSession" not in restart_calls
    (looked,) = network.api.sent(THREAD)
    assert looked["uri"] == mention.external_id
    (created,) = network.api.sent(CREATE)
    record = created["record"]
    parent = record["reply"]["parent"]
    assert (parent["uri"], parent["cid"]) == (mention.external_id, mention.raw["cid"])
    assert record["text"] == text and taken["record"] == record
    reply, outbox, actions = reply_state(sqlite_db, reply_id)
    assert (reply.status, reply.external_id) == ("posted", taken["uri"])
    assert reply.url == f"https://bsky.app/profile/kestrel.example/post/{taken['uri'].rsplit('/', 1)[-1]}"
    assert outbox.status == "sent" and (outbox.result or {}).get("external_id") == taken["uri"]
    assert actions[-2:] == ["reply_queued", "reply_settled"]
