"""Issue 14: a reclassification re-ranks the post's queue item at once (urgency, level, deadlines, kind) and its
case follows; the claim rule still protects someone else's item."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.storage import Database
from core.storage.case_tables import CaseRow
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow
from monitor.cli import main
from monitor.queue.items import QueueConflict, audit_trail, claim, set_status
from monitor.queue.reclassify import reclassify
from monitor.web.auth import add_user
from tests.support.languages import write_config
from tests.support.queue import NOW, Labels, post, seed
from tests.support.settings import make_settings
from tests.support.web import csrf_of, login, web_setup

PRAISE = Labels(sentiment="positive", complaint=False, urgency_score=0.0, urgency_category="none", level="low")


def _state(db: Database, mention_id: int, item_id: int) -> tuple[MentionRow, ClassificationRow, QueueItemRow,
                                                                  CaseRow | None]:
    with db.session() as session:
        mention, scores = session.get(MentionRow, mention_id), session.get(ClassificationRow, mention_id)
        item = session.get(QueueItemRow, item_id)
        case = session.scalar(select(CaseRow).where(CaseRow.queue_item_id == item_id))
    assert mention is not None and scores is not None and item is not None
    return mention, scores, item, case


def test_praise_corrected_to_an_outage_complaint_becomes_a_critical_response_at_once(db: Database) -> None:
    settings = make_settings()
    mention_id, item_id = seed(db, settings, [post("1", "@KestrelMobile love the new plan, great work")],
                               {"1": PRAISE})["1"]
    assert item_id is not None
    _, _, item, case = _state(db, mention_id, item_id)
    assert (item.kind, item.urgency_level) == ("thank", "low")
    assert case is not None and case.first_response_due is None  # a thank-you has no response deadline
    reclassify(db, mention_id, "ana", sla=settings.sla, sentiment="negative", complaint=True,
               urgency_category="outage", now=NOW)
    mention, scores, item, case = _state(db, mention_id, item_id)
    # 0.45 * 0.8 (outage) + 0.25 * 1 (negative, certain) + 0.15 * 1 (complaint, certain) + 0.15 * 0 = 0.76
    assert (scores.urgency_score, scores.urgency_level) == (0.76, "critical")
    assert (item.kind, item.urgency_level, item.urgency_score, item.urgency_category) == (
        "respond", "critical", 0.76, "outage")
    posted = mention.created_at.replace(tzinfo=item.first_response_due.tzinfo)
    assert item.first_response_due - posted == timedelta(minutes=settings.sla.critical.first_response_min)
    assert item.resolution_due - posted == timedelta(minutes=settings.sla.critical.resolution_min)
    assert case is not None and case.first_response_due == item.first_response_due
    assert case.needs_response_at == mention.created_at
    last = audit_trail(db, item_id=item_id)[0]
    assert (last.action, last.actor) == ("reclassified", "ana")
    assert last.detail["item"]["kind"] == ["thank", "respond"]
    assert last.detail["item"]["urgency_level"] == ["low", "critical"]
    assert "first_response_due" in last.detail["item"] and "resolution_due" in last.detail["item"]
    assert last.detail["case"]["id"] == case.id and "first_response_due" in last.detail["case"]
    assert last.detail["after"]["urgency_score"] == 0.76


def test_a_complaint_corrected_to_praise_drops_to_a_low_thank_you_and_its_case_loses_the_deadline(
        sqlite_db: Database) -> None:
    settings = make_settings()
    mention_id, item_id = seed(sqlite_db, settings, [post("1", "@KestrelMobile no signal since this morning")])["1"]
    assert item_id is not None
    _, _, before, case = _state(sqlite_db, mention_id, item_id)
    assert (before.kind, before.urgency_level) == ("respond", "high")
    assert case is not None and case.first_response_due == before.first_response_due
    reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, sentiment="positive", complaint=False,
               urgency_category="none", now=NOW)
    mention, scores, item, case = _state(sqlite_db, mention_id, item_id)
    assert (scores.urgency_score, scores.urgency_level) == (0.075, "low")  # only severity 2 of 4 is left
    assert (item.kind, item.urgency_level, item.version) == ("thank", "low", before.version + 1)
    posted = mention.created_at.replace(tzinfo=item.first_response_due.tzinfo)
    assert item.first_response_due - posted == timedelta(minutes=settings.sla.low.first_response_min)
    assert case is not None and (case.first_response_due, case.needs_response_at) == (None, None)


def test_an_uncorrected_label_keeps_the_models_probability(sqlite_db: Database) -> None:
    settings = make_settings()
    mention_id, item_id = seed(sqlite_db, settings, [post("1", "@KestrelMobile no signal since this morning")])["1"]
    assert item_id is not None
    reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, urgency_category="safety", now=NOW)
    _, scores, item, _ = _state(sqlite_db, mention_id, item_id)
    # negative kept at the model's 0.9, complaint at 0.9, severity 2: 0.45 + 0.225 + 0.135 + 0.075 = 0.885
    assert (scores.sentiment, scores.complaint, scores.urgency_score) == ("negative", True, 0.885)
    assert (item.urgency_level, item.kind) == ("critical", "respond")


def test_the_claim_rule_still_protects_another_responders_item(sqlite_db: Database) -> None:
    settings = make_settings()
    mention_id, item_id = seed(sqlite_db, settings, [post("1", "@KestrelMobile love it")], {"1": PRAISE})["1"]
    assert item_id is not None
    claim(sqlite_db, item_id, "ana", now=NOW)
    with pytest.raises(QueueConflict, match="claimed by ana; only they can reclassify it now"):
        reclassify(sqlite_db, mention_id, "ben", sla=settings.sla, sentiment="negative", now=NOW)
    _, scores, item, _ = _state(sqlite_db, mention_id, item_id)
    assert (scores.sentiment, item.kind, item.urgency_level) == ("positive", "thank", "low")  # nothing changed
    with sqlite_db.session() as session:
        assert session.scalar(select(func.count()).select_from(LabelledExampleRow)) == 0
    reclassify(sqlite_db, mention_id, "ben", sla=settings.sla, complaint=True, now=NOW, force=True)  # an admin
    reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, sentiment="negative", now=NOW)  # the holder
    _, _, item, _ = _state(sqlite_db, mention_id, item_id)
    assert item.kind == "respond" and item.status == "claimed" and item.claimed_by == "ana"


def test_a_resolved_item_is_corrected_without_reopening(sqlite_db: Database) -> None:
    settings = make_settings()
    mention_id, item_id = seed(sqlite_db, settings, [post("1", "@KestrelMobile love it")], {"1": PRAISE})["1"]
    assert item_id is not None
    set_status(sqlite_db, item_id, "resolved", "ana", now=NOW)
    reclassify(sqlite_db, mention_id, "ben", sla=settings.sla, sentiment="negative", complaint=True, now=NOW)
    _, _, item, _ = _state(sqlite_db, mention_id, item_id)
    assert (item.status, item.kind) == ("resolved", "respond")


def test_the_cli_uses_the_configs_sla(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = write_config(tmp_path / "brandmon.yaml", url,
                          sla={"critical": {"first_response_min": 7, "resolution_min": 60}})
    db = Database(url)
    db.migrate()
    try:
        mention_id, item_id = seed(db, make_settings(), [post("1", "@KestrelMobile love it")], {"1": PRAISE})["1"]
        assert item_id is not None
        add_user(db, "ana", "a long enough password", role="responder")
        result = CliRunner().invoke(main, ["queue", "reclassify", str(item_id), "--sentiment", "negative",
                                           "--complaint", "--urgency-category", "outage", "-c", str(config),
                                           "--as", "ana"])
        assert result.exit_code == 0, result.output
        assert "labelled example" in result.output and f"item {item_id}: respond, critical (0.76)" in result.output
        mention, _, item, _ = _state(db, mention_id, item_id)
        posted = mention.created_at.replace(tzinfo=item.first_response_due.tzinfo)
        assert item.first_response_due - posted == timedelta(minutes=7)
        assert item.resolution_due - posted == timedelta(minutes=60)
    finally:
        db.dispose()


def test_the_web_form_re_ranks_the_item(sqlite_db: Database) -> None:
    setup = web_setup(sqlite_db)
    item_id = setup.items["300"]
    client = TestClient(setup.app)
    login(client, "ana")
    page = client.post(f"/items/{item_id}/reclassify", data={
        "csrf_token": csrf_of(client.get("/").text), "sentiment": "negative", "complaint": "yes",
        "urgency_category": "outage"})
    assert page.status_code == 200 and "priority" in page.text
    _, _, item, _ = _state(sqlite_db, setup.mentions["300"], item_id)
    assert (item.kind, item.urgency_level) == ("respond", "critical")
