"""Queue actions on both backends: claim with leases, status changes, reclassification, the append-only audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from core.storage import Database
from core.storage.queue_tables import AuditLogIsAppendOnly, LabelledExampleRow
from core.storage.schema import AuditRow, ClassificationRow, MentionRow, QueueItemRow
from monitor.queue.items import (
    ItemNotFound,
    QueueConflict,
    QueueError,
    audit_trail,
    claim,
    list_queue,
    set_status,
    wake_snoozed,
)
from monitor.queue.reclassify import reclassify
from tests.support.queue import NOW, Labels, post, seed
from tests.support.settings import make_settings

SLA = make_settings().sla


@pytest.fixture
def item(db: Database) -> tuple[int, int]:
    """Return (mention id, queue item id) of one negative post waiting in the queue."""
    mention_id, item_id = seed(db, make_settings(), [post("100")])["100"]
    assert item_id is not None
    return mention_id, item_id


def actions(db: Database, item_id: int) -> list[tuple[str, str]]:
    return [(row.actor, row.action) for row in reversed(audit_trail(db, item_id=item_id))]


def test_claim_takes_a_lease_and_a_second_responder_is_refused(db: Database, item: tuple[int, int]) -> None:
    _, item_id = item
    row = claim(db, item_id, "ana", now=NOW, lease_min=20)
    assert (row.status, row.claimed_by, row.lease_until) == ("claimed", "ana", NOW + timedelta(minutes=20))
    with pytest.raises(QueueConflict, match="claimed by ana until 2026-11-19 10:20 UTC"):
        claim(db, item_id, "ben", now=NOW + timedelta(minutes=19))
    again = claim(db, item_id, "ana", now=NOW + timedelta(minutes=10), lease_min=20)
    assert again.lease_until == NOW + timedelta(minutes=30)
    assert actions(db, item_id) == [("brandmon", "queued"), ("ana", "claimed"), ("ana", "claim_renewed")]


def test_an_expired_lease_can_be_taken_over(db: Database, item: tuple[int, int]) -> None:
    _, item_id = item
    claim(db, item_id, "ana", now=NOW, lease_min=5)
    taken = claim(db, item_id, "ben", now=NOW + timedelta(minutes=5))
    assert taken.claimed_by == "ben"
    with pytest.raises(QueueConflict, match="claimed by ben"):
        set_status(db, item_id, "resolved", "ana", now=NOW + timedelta(minutes=6))


def test_claiming_a_missing_or_closed_item_says_why(db: Database, item: tuple[int, int]) -> None:
    _, item_id = item
    with pytest.raises(ItemNotFound):
        claim(db, item_id + 999, "ana", now=NOW)
    set_status(db, item_id, "not_relevant", "ana", now=NOW)
    with pytest.raises(QueueConflict, match="is not relevant; reopen it before claiming"):
        claim(db, item_id, "ben", now=NOW)
    set_status(db, item_id, "new", "ben", now=NOW)
    assert claim(db, item_id, "ben", now=NOW).claimed_by == "ben"


def test_statuses_move_and_every_step_is_audited(db: Database, item: tuple[int, int]) -> None:
    _, item_id = item
    claim(db, item_id, "ana", now=NOW)
    snoozed = set_status(db, item_id, "snoozed", "ana", now=NOW, snooze_until=NOW + timedelta(hours=2))
    assert (snoozed.status, snoozed.snoozed_until, snoozed.claimed_by) == ("snoozed", NOW + timedelta(hours=2), None)
    assert wake_snoozed(db, now=NOW + timedelta(hours=1)) == 0
    assert wake_snoozed(db, now=NOW + timedelta(hours=2)) == 1
    later = NOW + timedelta(hours=3)
    claim(db, item_id, "ben", now=later)
    replied = set_status(db, item_id, "replied", "ben", now=later)
    assert replied.first_response_at == later
    resolved = set_status(db, item_id, "resolved", "ben", now=later + timedelta(minutes=1))
    assert (resolved.status, resolved.resolved_at) == ("resolved", later + timedelta(minutes=1))
    assert set_status(db, item_id, "resolved", "ben", now=later).version == resolved.version  # repeat: no-op
    assert actions(db, item_id) == [
        ("brandmon", "queued"), ("ana", "claimed"), ("ana", "snoozed"), ("brandmon", "reopened"),
        ("ben", "claimed"), ("ben", "marked_replied"), ("ben", "resolved"),
    ]
    trail = audit_trail(db, item_id=item_id)
    assert trail[0].detail == {"from": "replied", "to": "resolved"}
    assert all(row.at.tzinfo is not None for row in trail)


def test_status_changes_are_validated(db: Database, item: tuple[int, int]) -> None:
    _, item_id = item
    with pytest.raises(QueueError, match="unknown status 'done'"):
        set_status(db, item_id, "done", "ana", now=NOW)
    with pytest.raises(QueueError, match="time in the future"):
        set_status(db, item_id, "snoozed", "ana", now=NOW, snooze_until=NOW - timedelta(minutes=1))
    claim(db, item_id, "ana", now=NOW)
    forced = set_status(db, item_id, "new", "lead", now=NOW, force=True)
    assert forced.claimed_by is None
    assert audit_trail(db, item_id=item_id)[0].detail["overrode_claim_of"] == "ana"


def test_the_queue_lists_open_items_most_urgent_first(db: Database) -> None:
    settings = make_settings()
    # three customers, three cases; a customer's second post is their case's, not a new item (README, "Cases")
    seeded = seed(db, settings, [post("1", minutes_ago=50, handle="ann"), post("2", minutes_ago=10, handle="bo"),
                                 post("3", minutes_ago=30, handle="cy"), post("4", minutes_ago=5, handle="ann")],
                  {"1": Labels(level="normal", urgency_score=0.3), "2": Labels(level="critical", urgency_score=0.9),
                   "3": Labels(level="critical", urgency_score=0.8), "4": Labels(level="normal", urgency_score=0.3)})
    order = [entry.mention.external_id for entry in list_queue(db)]
    assert order == ["3", "2", "1"]
    claim(db, seeded["3"][1] or 0, "ana", now=NOW)
    assert [e.mention.external_id for e in list_queue(db, claimed_by="ana")] == ["3"]


def test_reclassify_stores_a_labelled_example_and_corrects_the_item(db: Database, item: tuple[int, int]) -> None:
    mention_id, item_id = item
    example = reclassify(db, mention_id, "ana", sla=SLA, sentiment="neutral", urgency_category="billing", now=NOW)
    with db.session() as session:
        stored = session.get(LabelledExampleRow, example.id)
        scores = session.get(ClassificationRow, mention_id)
        queue_item = session.get(QueueItemRow, item_id)
    assert stored is not None and scores is not None and queue_item is not None
    assert (stored.sentiment, stored.complaint, stored.urgency_category) == ("neutral", True, "billing")
    assert stored.text == "@KestrelMobile no signal since this morning"
    assert stored.model_labels == {"sentiment": "negative", "complaint": True, "urgency_category": "outage",
                                   "model": "test-labels"}
    assert (scores.sentiment, queue_item.urgency_category) == ("neutral", "billing")
    last = audit_trail(db, item_id=item_id)[0]
    assert (last.actor, last.action, last.detail["example_id"]) == ("ana", "reclassified", example.id)
    with pytest.raises(QueueError, match="sentiment must be one of"):
        reclassify(db, mention_id, "ana", sla=SLA, sentiment="angry")
    with pytest.raises(QueueError, match="at least one"):
        reclassify(db, mention_id, "ana", sla=SLA)


def test_the_audit_log_refuses_updates_and_deletes_in_the_database(db: Database, item: tuple[int, int]) -> None:
    _, item_id = item
    claim(db, item_id, "ana", now=NOW)
    for statement in (update(AuditRow).values(actor="mallory"), delete(AuditRow)):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as session:
            session.execute(statement)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET action = 'edited' WHERE actor = 'ana'"))
    with pytest.raises(AuditLogIsAppendOnly), db.session() as session:
        row = session.execute(select(AuditRow)).scalars().first()
        assert row is not None
        row.actor = "mallory"
    assert {row.actor for row in audit_trail(db)} == {"brandmon", "ana"}


def test_deleting_a_post_keeps_its_audit_rows(db: Database, item: tuple[int, int]) -> None:
    mention_id, item_id = item
    claim(db, item_id, "ana", now=NOW)
    with db.session() as session:
        session.execute(delete(MentionRow).where(MentionRow.id == mention_id))
    rows = audit_trail(db)
    assert [(r.action, r.queue_item_id, r.mention_id) for r in rows] == [
        ("claimed", None, None), ("queued", None, None)]
