"""Issue 14: a responder reclassifies into the brand's own categories, at the brand's weight, through the urgency
decision routing makes; a follow-up's correction re-ranks its case's item from the follow-up's own time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.settings import Secrets, Settings
from core.storage import Database
from core.storage.case_tables import CaseRow
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import AuditRow, ClassificationRow, MentionRow, QueueItemRow
from models.base import URGENCY_CATEGORIES
from monitor.cli import main
from monitor.pipeline.route import route_pending
from monitor.queue.categories import brand_categories, category_choices
from monitor.queue.items import QueueError, audit_trail
from monitor.queue.reclassify import reclassify
from monitor.queue.sla import deadlines
from monitor.web import create_app
from monitor.web.auth import add_user
from monitor.web.slack_actions import ActionHandler
from tests.monitor.web import test_slack_interactivity as interactivity
from tests.monitor.web.test_slack_interactivity import click
from tests.support.alerts import Post as Stored
from tests.support.alerts import Wired, store
from tests.support.languages import write_config
from tests.support.queue import NOW, Labels, PostingSource, post, seed
from tests.support.settings import make_settings
from tests.support.web import PASSWORD, csrf_of, login


def _category(name: str, weight: float, topic: str) -> dict[str, Any]:
    return {"name": name, "description": f"Posts about {topic}.", "weight": weight,
            "examples": [f"{topic} problem number {n}, please help" for n in range(5)]}


LONG = "a_category_name_longer_than_32_chars"
CATEGORIES = [_category("roaming", 1.0, "roaming abroad"), _category("coverage_map", 0.0, "the coverage map"),
              _category("billing", 0.1, "our bills"), _category(LONG, 0.9, "long names")]
BRANDS = [{"name": "Kestrel Mobile", "query": "kestrel", "handles": {"x": "KestrelMobile"},
           "competitors": ["Orbital Telecom"], "categories": CATEGORIES},
          {"name": "Orbital Telecom", "query": "orbital", "own": False}]
OWN = ("roaming", "coverage_map")


def _settings(**overrides: Any) -> Settings:
    return make_settings(brands=BRANDS, **overrides)


def _seeded(db: Database, settings: Settings, labels: Labels | None = None) -> tuple[int, int]:
    mention_id, item_id = seed(db, settings, [post("1")], {"1": labels or Labels()})["1"]
    assert item_id is not None
    return mention_id, item_id


def _state(db: Database, mention_id: int, item_id: int) -> tuple[MentionRow, ClassificationRow, QueueItemRow]:
    with db.session() as session:
        mention, scores = session.get(MentionRow, mention_id), session.get(ClassificationRow, mention_id)
        item = session.get(QueueItemRow, item_id)
    assert mention is not None and scores is not None and item is not None
    return mention, scores, item


def _due_after_post(mention: MentionRow, item: QueueItemRow) -> timedelta:
    return item.first_response_due - mention.created_at.replace(tzinfo=item.first_response_due.tzinfo)


def test_a_brand_category_is_taken_at_the_brands_weight_and_moves_priority_and_deadline(
        db: Database) -> None:
    settings = _settings()
    mention_id, item_id = _seeded(db, settings)  # negative 0.9, complaint 0.9, severity 2 of 4
    categories = brand_categories(settings.brands)
    example = reclassify(db, mention_id, "ana", sla=settings.sla, categories=categories,
                         urgency_category="roaming", now=NOW)
    mention, scores, item = _state(db, mention_id, item_id)
    # 0.45 * 1.0 (roaming's weight) + 0.25 * 0.9 + 0.15 * 0.9 + 0.15 * 0.5 = 0.885; "other" would give 0.57
    assert (scores.urgency_score, scores.urgency_level, item.urgency_level) == (0.885, "critical", "critical")
    assert _due_after_post(mention, item) == timedelta(minutes=settings.sla.critical.first_response_min)
    # routing keeps urgency_category built-in; the correction keeps the brand's name for training
    assert (example.urgency_category, scores.urgency_category, item.urgency_category) == ("roaming", "other", "other")
    after = audit_trail(db, item_id=item_id)[0].detail["after"]
    assert (after["urgency_category"], after["stored_category"]) == ("roaming", "other")

    reclassify(db, mention_id, "ana", sla=settings.sla, categories=categories,
               urgency_category="coverage_map", now=NOW)
    mention, scores, item = _state(db, mention_id, item_id)
    assert (scores.urgency_score, item.urgency_level) == (0.435, "normal")  # weight 0: what the feelings give
    assert _due_after_post(mention, item) == timedelta(minutes=settings.sla.normal.first_response_min)

    # a brand category named like a built-in one replaces it for the brand, weight and all: 0.1, not 0.6
    reclassify(db, mention_id, "ana", sla=settings.sla, categories=categories,
               urgency_category="billing", now=NOW)
    _, scores, item = _state(db, mention_id, item_id)
    assert (scores.urgency_score, scores.urgency_category, item.urgency_level) == (0.48, "billing", "normal")


def test_a_later_correction_of_the_sentiment_keeps_the_brand_category_a_person_gave(sqlite_db: Database) -> None:
    settings = _settings()
    mention_id, item_id = _seeded(sqlite_db, settings)
    categories = brand_categories(settings.brands)
    reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, categories=categories, urgency_category="roaming",
               now=NOW)
    example = reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, categories=categories,
                         sentiment="neutral", now=NOW)
    _, scores, item = _state(sqlite_db, mention_id, item_id)
    assert example.urgency_category == "roaming"
    assert (scores.urgency_score, item.urgency_level) == (0.66, "high")  # 0.45 + 0 + 0.135 + 0.075, not 0.345


def test_an_unknown_or_too_long_category_is_refused_naming_that_brands_categories(sqlite_db: Database) -> None:
    settings = _settings()
    mention_id, item_id = _seeded(sqlite_db, settings)
    categories = brand_categories(settings.brands)
    valid = ", ".join((*URGENCY_CATEGORIES, *OWN))
    with pytest.raises(QueueError) as refused:
        reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, categories=categories, urgency_category="roam",
                   now=NOW)
    assert str(refused.value) == f"urgency category for Kestrel Mobile must be one of {valid}, not 'roam'"
    with pytest.raises(QueueError, match=f"'{LONG}' has 36 characters and a correction keeps at most 32"):
        reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, categories=categories, urgency_category=LONG,
                   now=NOW)
    with pytest.raises(QueueError, match=r"must be one of safety, .*, none, not 'roaming'"):  # no categories given
        reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, urgency_category="roaming", now=NOW)
    assert category_choices("Orbital Telecom", categories) == URGENCY_CATEGORIES  # another brand's are not its own
    assert category_choices("kestrel mobile", categories)[-2:] == OWN
    with sqlite_db.session() as session:
        assert session.scalars(select(LabelledExampleRow)).all() == []
    _, _, item = _state(sqlite_db, mention_id, item_id)
    assert item.version == 1


def test_the_urgency_goes_through_routings_decision(sqlite_db: Database) -> None:
    settings = _settings()
    mention_id, item_id = _seeded(sqlite_db, settings, Labels(complaint=False))
    with sqlite_db.session() as session:  # the model said nobody has to answer it
        scores = session.get(ClassificationRow, mention_id)
        assert scores is not None
        scores.explanation = {"needs_reply": ["none"]}
    reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, categories=brand_categories(settings.brands),
               urgency_category="roaming", now=NOW)
    _, scores, item = _state(sqlite_db, mention_id, item_id)
    # 0.45 + 0.225 + 0.015 + 0 = 0.69 would be high; a post that needs no answer stays just under high (0.5)
    assert (scores.urgency_score, scores.urgency_level, item.urgency_level) == (0.49, "normal", "normal")
    reclassify(sqlite_db, mention_id, "ana", sla=settings.sla, categories=brand_categories(settings.brands),
               complaint=True, now=NOW)  # a complaint is answered: the cap is off
    _, scores, _ = _state(sqlite_db, mention_id, item_id)
    assert (scores.urgency_score, scores.urgency_level) == (0.825, "critical")


def test_a_follow_up_reclassified_re_ranks_its_cases_item_from_its_own_time(db: Database) -> None:
    settings, at = _settings(slack={"enabled": False}), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    neutral: dict[str, Any] = {"sentiment": "neutral", "complaint": False, "urgency": 0.1, "category": "none",
                               "level": "low"}
    thread = [Stored("@KestrelMobile my parcel never came", at=at, handle="jo", external_id="1"),
              Stored("Sorry Jo, can you DM us the order?", at=at + timedelta(minutes=12), external_id="2",
                     parent_id="1", handle="KestrelMobile", raw={"from_brand": True}, **neutral),
              Stored("@KestrelMobile I'm abroad and it says no service", at=at + timedelta(minutes=20),
                     handle="jo", external_id="3", parent_id="2", **neutral)]
    ids = []
    for one in thread:
        ids.extend(store(db, [one]))
        route_pending(db, settings, now=one.at + timedelta(minutes=1))
    with db.session() as session:
        (item_id,) = session.scalars(select(QueueItemRow.id)).all()
    first, follow_up = ids[0], ids[2]
    _, _, item = _state(db, first, item_id)
    assert item.mention_id == first and item.status == "new"  # the follow-up re-armed the answered item
    categories = brand_categories(settings.brands)
    reclassify(db, follow_up, "ana", sla=settings.sla, categories=categories, sentiment="negative",
               complaint=True, urgency_category="roaming", now=NOW, item_id=item_id)
    _, scores, item = _state(db, follow_up, item_id)
    # 0.45 * 1.0 + 0.25 + 0.15 + 0 (severity 0) = 0.85: the case's item follows its most urgent post
    assert (scores.urgency_score, item.urgency_level, item.kind) == (0.85, "critical", "respond")
    waited_from = at + timedelta(minutes=20)  # the follow-up's own time, not the case's first post's
    assert item.first_response_due.replace(tzinfo=UTC) == deadlines(waited_from, "critical", settings.sla)[0]
    with db.session() as session:
        case = session.scalar(select(CaseRow).where(CaseRow.queue_item_id == item_id))
        audited = session.scalars(select(AuditRow).where(AuditRow.action == "reclassified")).one()
    assert case is not None and case.needs_response_at is not None
    assert case.needs_response_at.replace(tzinfo=UTC) == waited_from
    assert case.first_response_due == item.first_response_due
    assert (audited.queue_item_id, audited.mention_id) == (item_id, follow_up)
    # correcting the first post to nothing urgent leaves the item at its follow-up's level and clock
    reclassify(db, first, "ana", sla=settings.sla, categories=categories, sentiment="neutral",
               complaint=False, urgency_category="none", now=NOW)
    _, _, item = _state(db, first, item_id)
    assert (item.urgency_level, item.kind) == ("critical", "respond")
    assert item.first_response_due.replace(tzinfo=UTC) == deadlines(waited_from, "critical", settings.sla)[0]


def test_the_web_form_lists_the_brands_own_categories_and_takes_one(sqlite_db: Database) -> None:
    settings = _settings()
    mention_id, item_id = _seeded(sqlite_db, settings)
    add_user(sqlite_db, "ana", PASSWORD, role="responder")
    app = create_app(settings, sqlite_db, sources={"x-kestrel": PostingSource()}, clock=lambda: NOW,
                     secrets_=Secrets.model_validate({"web_session_secret": "test-only-session-key"}))
    client = TestClient(app)
    login(client, "ana")
    page = client.get(f"/items/{item_id}").text
    assert ("<optgroup label=\"Kestrel Mobile's own\"><option value=\"roaming\">roaming</option>"
            '<option value="coverage_map">coverage map</option></optgroup>') in page
    assert LONG not in page and page.count('<option value="billing">') == 1
    token = csrf_of(page)
    refused = client.post(f"/items/{item_id}/reclassify", data={"csrf_token": token, "urgency_category": "roam"})
    assert "must be one of safety" in refused.text and "roaming, coverage_map, not &#39;roam&#39;" in refused.text
    done = client.post(f"/items/{item_id}/reclassify", data={"csrf_token": token, "urgency_category": "roaming"})
    assert done.status_code == 200 and "priority" in done.text
    _, _, item = _state(sqlite_db, mention_id, item_id)
    assert item.urgency_level == "critical"


def test_the_cli_takes_a_brand_category_and_names_the_valid_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = write_config(tmp_path / "brandmon.yaml", url, brands=BRANDS)
    db = Database(url)
    db.migrate()
    try:
        _, item_id = _seeded(db, _settings())
        add_user(db, "ana", "a long enough password", role="responder")
        run = CliRunner().invoke
        wrong = run(main, ["queue", "reclassify", str(item_id), "--urgency-category", "roam", "-c", str(config),
                           "--as", "ana"])
        assert wrong.exit_code != 0 and "none, roaming, coverage_map, not 'roam'" in wrong.output
        result = run(main, ["queue", "reclassify", str(item_id), "--urgency-category", "roaming", "-c", str(config),
                            "--as", "ana"])
        assert result.exit_code == 0, result.output
        assert "urgency=roaming" in result.output and f"item {item_id}: respond, critical (0.89)" in result.output
    finally:
        db.dispose()


#: The interactivity tests' incident of two posts in #care-urgent: its message and one thread reply.
alerted = interactivity.alerted


def test_a_slack_reclassification_to_a_brand_category_is_checked_against_the_brands(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    reply = alerted.slack.thread(root["ts"])[0]
    handler = ActionHandler(alerted.db, alerted.settings.slack, clock=alerted.clock,
                            categories=brand_categories(_settings().brands))

    def chosen(option: str) -> dict[str, Any]:
        """The click, with the menu's option value carrying `option` (the menu offers sentiment and complaint)."""
        payload = copy.deepcopy(click(reply, "reclassify", option="sentiment=positive"))
        selected = payload["actions"][0]["selected_option"]
        selected["value"] = selected["value"].replace("sentiment=positive", option, 1)
        return payload

    (result,) = handler.handle_payload(chosen("urgency_category=roaming"))
    assert result.ok and result.note == "urgency_category: roaming"
    (result,) = handler.handle_payload(chosen("urgency_category=roam"))
    assert not result.ok and result.note is not None and "none, roaming, coverage_map, not 'roam'" in result.note
    with alerted.db.session() as session:
        assert session.scalars(select(LabelledExampleRow.urgency_category)).all() == ["roaming"]
