"""Exactly-once public replies: a reply whose outcome was lost is looked up on the network and settled, not reposted.

The network here is a ledger that keeps every reply it accepted. "The process died" is an exception that no
handler in the notifier or the deliverer catches (as SIGKILL leaves the rows), after which a fresh deliverer (the
restarted process) takes over. The SIGKILL drill (tests/monitor/drills/test_drill_sigkill.py) does the same with
a real child process; the X and Reddit lookups are tested against recordings in tests/sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.domain import Batch, Delivery, Mention, PostedReply
from core.storage import Database
from core.storage.schema import AuditRow, OutboxRow, QueueItemRow, ReplyRow
from monitor.pipeline.deliver import Deliverer
from monitor.queue.context import mark_seen
from monitor.queue.items import claim
from monitor.queue.replies import ReplyNotifier, idempotency_key, queue_reply
from sources.base import RateLimited, RetriableError, Source
from tests.support.queue import NOW, post, seed
from tests.support.settings import make_settings


class ProcessDied(BaseException):
    """Stands for SIGKILL: nothing in the notifier or the deliverer catches it."""


@dataclass
class Accepted:
    """One reply the network holds."""

    parent_id: str
    text: str
    key: str | None
    external_id: str


@dataclass
class LedgerSource(Source):
    """A network that keeps every reply it accepts; it can die or time out right after accepting one."""

    network = "x"
    accepted: list[Accepted] = field(default_factory=list)
    lookups: int = 0
    #: After accepting the next reply: "die" (the process is killed) or "timeout" (the answer is lost).
    after_accept: str | None = None
    lookup_error: Exception | None = None

    def __post_init__(self) -> None:
        super().__init__(name="x-kestrel", brand="Kestrel Mobile", options={})

    def poll(self, cursor: str | None) -> Batch:
        return Batch((), cursor, exhausted=True)

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        external_id = str(9000 + len(self.accepted) + 1)
        self.accepted.append(Accepted(mention.external_id, text, idempotency_key, external_id))
        fate, self.after_accept = self.after_accept, None
        if fate == "die":
            raise ProcessDied
        if fate == "timeout":
            raise RetriableError("X reply: ReadTimeout")
        return self._posted(external_id)

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        self.lookups += 1
        if self.lookup_error is not None:
            raise self.lookup_error
        for reply in self.accepted:
            if reply.parent_id == mention.external_id and reply.text == text:
                return self._posted(reply.external_id)
        return None

    @staticmethod
    def _posted(external_id: str) -> PostedReply:
        return PostedReply(external_id=external_id, url=f"https://x.com/KestrelMobile/status/{external_id}",
                           posted_at=NOW + timedelta(minutes=1))


class ForgetfulSource(LedgerSource):
    """The same network seen through a source that cannot look up its own replies (the base contract)."""

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        return Source.find_reply(self, mention, text)


def restart(db: Database, source: Source, *, minutes: int = 5) -> Deliverer:
    """A fresh process: a new notifier and deliverer over the same database, some minutes later."""
    at = NOW + timedelta(minutes=minutes)
    notifier = ReplyNotifier(db, {source.name: source}, clock=lambda: at)
    return Deliverer(db, {"reply": notifier}, messages_per_second=1000, clock=lambda: at)


@pytest.fixture
def queued(db: Database) -> ReplyRow:
    """Return a reply ana queued to a post she claimed and opened."""
    mention_id, item_id = seed(db, make_settings(), [post("100", conversation_id="100")])["100"]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    return queue_reply(db, item_id, "ana", "Hi Jo, so sorry: engineers are on it.", now=NOW)


def stored(db: Database, reply_id: int) -> tuple[ReplyRow, OutboxRow, QueueItemRow, list[str]]:
    with db.session() as session:
        reply = session.get(ReplyRow, reply_id)
        assert reply is not None
        outbox = session.get(OutboxRow, reply.outbox_id)
        item = session.get(QueueItemRow, reply.queue_item_id)
        actions = session.execute(select(AuditRow.action).where(AuditRow.queue_item_id == reply.queue_item_id)
                                  .order_by(AuditRow.id)).scalars().all()
    assert outbox is not None and item is not None
    return reply, outbox, item, list(actions)


def test_a_reply_the_network_took_before_the_process_died_is_settled_not_posted_again(
        db: Database, queued: ReplyRow) -> None:
    network = LedgerSource(after_accept="die")
    with pytest.raises(ProcessDied):
        restart(db, network, minutes=0).deliver_due()
    assert len(network.accepted) == 1
    reply, outbox, _, _ = stored(db, queued.id)
    assert (reply.status, outbox.status) == ("sending", "sending")  # what SIGKILL leaves behind

    after = restart(db, network)
    assert after.recover_in_doubt() == 1
    assert after.deliver_due() == 0  # nothing left to send
    reply, outbox, item, actions = stored(db, queued.id)
    assert len(network.accepted) == 1 and network.lookups == 1
    assert (reply.status, reply.external_id, reply.url) == (
        "posted", "9001", "https://x.com/KestrelMobile/status/9001")
    assert reply.posted_at == NOW + timedelta(minutes=1)
    assert outbox.status == "sent" and (outbox.result or {}).get("external_id") == "9001"
    # the queue item moves on exactly as it does for a reply recorded the ordinary way
    assert (item.status, item.first_response_at) == ("replied", NOW + timedelta(minutes=1))
    assert actions[-2:] == ["reply_queued", "reply_settled"]


def test_a_reply_lost_before_it_reached_the_network_is_posted_once(db: Database, queued: ReplyRow) -> None:
    network = LedgerSource()
    notifier = ReplyNotifier(db, {network.name: network}, clock=lambda: NOW)
    with db.session() as session:  # the process marked the reply "sending" and died before the request left
        row = session.get(ReplyRow, queued.id)
        outbox = session.get(OutboxRow, queued.outbox_id)
        assert row is not None and outbox is not None
        row.status, outbox.status, outbox.sending_since, outbox.attempts = "sending", "sending", NOW, 1
    after = restart(db, network)
    assert after.recover_in_doubt() == 1 and after.deliver_due() == 1
    reply, outbox, _, actions = stored(db, queued.id)
    assert [(a.parent_id, a.key) for a in network.accepted] == [("100", idempotency_key(queued.id))]
    assert network.lookups == 1  # looked once at recovery; the retry trusted that answer
    assert (reply.status, reply.external_id, outbox.status) == ("posted", "9001", "sent")
    assert actions[-1] == "reply_posted"
    assert notifier.find_sent(delivery_of(db, queued.id)) == outbox.result  # recorded: no further lookup
    assert network.lookups == 1


def delivery_of(db: Database, reply_id: int) -> Delivery:
    with db.session() as session:
        reply = session.get(ReplyRow, reply_id)
        assert reply is not None
        row = session.get(OutboxRow, reply.outbox_id)
        assert row is not None
        return Delivery(id=row.id, kind=row.kind, channel=row.channel, dedupe_key=row.dedupe_key,
                        payload=dict(row.payload), attempts=row.attempts)


def test_a_timeout_after_the_network_took_the_reply_is_settled_on_the_retry(db: Database, queued: ReplyRow) -> None:
    network = LedgerSource(after_accept="timeout")
    assert restart(db, network, minutes=0).deliver_due() == 0
    reply, outbox, _, _ = stored(db, queued.id)
    assert (reply.status, outbox.status) == ("sending", "pending") and "ReadTimeout" in (outbox.last_error or "")
    assert restart(db, network, minutes=10).deliver_due() == 1
    reply, outbox, _, actions = stored(db, queued.id)
    assert len(network.accepted) == 1 and (reply.status, reply.external_id) == ("posted", "9001")
    assert outbox.status == "sent" and actions[-1] == "reply_settled"


@pytest.mark.parametrize("failure", [RetriableError("X reply lookup: 503"),
                                     RateLimited(NOW + timedelta(minutes=20), "X reply lookup: 429")])
def test_a_lookup_that_fails_sends_nothing_until_it_can_tell(db: Database, queued: ReplyRow,
                                                             failure: Exception) -> None:
    network = LedgerSource(after_accept="timeout")
    restart(db, network, minutes=0).deliver_due()
    network.lookup_error = failure
    assert restart(db, network, minutes=10).deliver_due() == 0
    reply, outbox, _, _ = stored(db, queued.id)
    assert len(network.accepted) == 1 and reply.status == "sending"
    assert outbox.status == "pending" and "cannot tell yet whether it was posted" in (outbox.last_error or "")
    if isinstance(failure, RateLimited):
        assert outbox.next_attempt_at >= NOW + timedelta(minutes=19)
    network.lookup_error = None
    assert restart(db, network, minutes=30).deliver_due() == 1
    assert len(network.accepted) == 1 and stored(db, queued.id)[0].status == "posted"


def test_without_a_lookup_a_lost_outcome_is_posted_twice(db: Database, queued: ReplyRow) -> None:
    """What find_reply prevents: a source that cannot look keeps the old behaviour and posts again."""
    network = ForgetfulSource(after_accept="die")
    with pytest.raises(ProcessDied):
        restart(db, network, minutes=0).deliver_due()
    after = restart(db, network)
    after.recover_in_doubt()
    assert after.deliver_due() == 1
    assert [a.parent_id for a in network.accepted] == ["100", "100"]
