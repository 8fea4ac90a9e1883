"""Mastodon replies go out once: a SIGKILL or a lost answer after the instance took one does not post it twice.

The real outbox, `ReplyNotifier` and `MastodonSource` (Mastodon.py) talk to a loopback instance
(`tests/support/reply_networks.py`) that answers with Mastodon.py's recorded bodies and counts every POST with
its Idempotency-Key. After a SIGKILL between the instance's answer and the database write, the
restart finds the reply in the status's context and settles it without a second POST; a retry that does post
(the first POST never reached the instance) sends the same Idempotency-Key as the first.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.domain import Mention
from core.storage import Database
from monitor.pipeline.deliver import Deliverer
from monitor.queue.replies import ReplyNotifier, idempotency_key
from tests.support.processes import Processes
from tests.support.queue import NOW
from tests.support.reply_child import MASTODON_SOURCE, build_source, queued_reply, reply_state, run_reply_child
from tests.support.reply_networks import CUSTOMER_STATUS, RECORDED_REPLY_TEXT, MastodonNetwork
from tests.support.sources import no_network

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]


def customer_mention(network: MastodonNetwork) -> Mention:
    """The recorded customer status as the source stores it (made recent, so routing queues it)."""
    mention = build_source("mastodon", network.base_url).normalise(CUSTOMER_STATUS)
    return replace(mention, created_at=NOW - timedelta(minutes=5))


def context_reads(network: MastodonNetwork) -> int:
    return sum(1 for request in network.requests if request.endswith("/context"))


@pytest.mark.slow
def test_a_reply_taken_before_a_sigkill_is_settled_from_the_context_not_posted_again(
        sqlite_db: Database, tmp_path: Path, processes: Processes) -> None:
    with MastodonNetwork() as network:
        mention = customer_mention(network)
        reply_id = queued_reply(sqlite_db, mention, MASTODON_SOURCE, RECORDED_REPLY_TEXT)
        status, said = run_reply_child(processes, tmp_path, db=sqlite_db, network="mastodon",
                                       base_url=network.base_url, at=NOW, die=True)
        assert status == -signal.SIGKILL, said
        (taken,) = network.statuses
        assert f"the network took the reply as {taken['uri']}" in said
        reply, outbox, _ = reply_state(sqlite_db, reply_id)
        assert (reply.status, reply.external_id, outbox.status) == ("sending", None, "sending")  # what SIGKILL left
        _, said = run_reply_child(processes, tmp_path, db=sqlite_db, network="mastodon", base_url=network.base_url,
                                  at=NOW + timedelta(minutes=10))
    assert not network.http.errors, network.http.errors
    assert "settled=1 sent=0" in said
    # one POST, ever: the restart looked in the context and did not lean on the Idempotency-Key
    assert network.keys() == [idempotency_key(reply_id)] and network.statuses == [taken]
    assert context_reads(network) == 1
    (post,) = network.posts
    assert post.fields["in_reply_to_id"] == [CUSTOMER_STATUS["id"]] and post.fields["visibility"] == ["public"]
    reply, outbox, actions = reply_state(sqlite_db, reply_id)
    assert (reply.status, reply.external_id, reply.url) == ("posted", taken["uri"], taken["url"])
    assert outbox.status == "sent" and actions[-2:] == ["reply_queued", "reply_settled"]


def deliver(db: Database, network: MastodonNetwork, at: datetime) -> int:
    """One outbox pass in this process through a fresh source, as a later tick of the worker does."""
    source = build_source("mastodon", network.base_url)
    notifier = ReplyNotifier(db, {source.name: source}, clock=lambda: at)
    return Deliverer(db, {"reply": notifier}, messages_per_second=1000, clock=lambda: at).deliver_due()


@pytest.mark.parametrize(("dropped", "posts", "last_action"), [
    ("before", 2, "reply_posted"),  # the POST never reached the instance: the retry posts, with the same key
    ("after", 1, "reply_settled"),  # the instance took it and the answer was lost: found in the context
])
def test_a_lost_answer_is_looked_up_and_a_retry_that_posts_sends_the_same_idempotency_key(
        sqlite_db: Database, dropped: str, posts: int, last_action: str) -> None:
    with MastodonNetwork() as network:
        reply_id = queued_reply(sqlite_db, customer_mention(network), MASTODON_SOURCE, RECORDED_REPLY_TEXT)
        network.drop_next_post = dropped
        assert deliver(sqlite_db, network, NOW) == 0
        reply, outbox, _ = reply_state(sqlite_db, reply_id)
        assert (reply.status, outbox.status) == ("sending", "pending")  # in doubt: looked up before any retry
        assert "MastodonNetworkError" in (outbox.last_error or "")
        assert deliver(sqlite_db, network, NOW + timedelta(minutes=10)) == 1
    assert not network.http.errors, network.http.errors
    assert network.keys() == [idempotency_key(reply_id)] * posts
    (status,) = network.statuses
    assert context_reads(network) == 1
    reply, outbox, actions = reply_state(sqlite_db, reply_id)
    assert (reply.status, reply.external_id, outbox.status) == ("posted", status["uri"], "sent")
    assert actions[-1] == last_action

