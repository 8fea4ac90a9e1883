"""Issue 14: the Reclassify menu offers sentiment, complaint, the built-in categories and the brand's own, within
Slack's static_select limits, and a click on a category reclassifies through the Slack handler."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback, block_problems, message_as_text
from alerts.slack_menu import MENU_OPTIONS_MAX, reclassify_menu
from alerts.slack_render import alert_blocks, button_value
from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import OutboxRow, QueueItemRow
from models.base import URGENCY_CATEGORIES
from monitor.queue.categories import brand_categories
from monitor.web.slack_actions import ActionHandler
from tests.alerts.test_slack_render import payload
from tests.monitor.queue.test_reclassify_categories import BRANDS, LONG, OWN
from tests.monitor.web.test_slack_interactivity import click
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock
from tests.support.settings import make_settings

FSI, PDI = "\u2068", "\u2069"


def menu_of(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "reclassify")


def groups_of(menu: dict[str, Any]) -> dict[str, list[str]]:
    """Return each group's label -> its options' choices (the value before what the buttons carry)."""
    return {g["label"]["text"]: [o["value"].partition("|")[0] for o in g["options"]] for g in menu["option_groups"]}


def test_the_menu_groups_sentiment_complaint_the_built_in_and_the_brands_categories() -> None:
    _, blocks = alert_blocks(payload(categories=list(URGENCY_CATEGORIES), own_categories=["roaming", "coverage_map"]))
    assert not block_problems(blocks)
    menu = menu_of(blocks)
    assert "options" not in menu  # Slack takes options or option_groups, never both
    assert groups_of(menu) == {
        "Sentiment": ["sentiment=negative", "sentiment=neutral", "sentiment=positive"],
        "Complaint": ["complaint=yes", "complaint=no"],
        "Category": [f"urgency_category={name}" for name in URGENCY_CATEGORIES],
        f"{FSI}Kestrel Mobile{PDI}'s own": ["urgency_category=roaming", "urgency_category=coverage_map"],
    }
    own = menu["option_groups"][3]["options"]
    assert [o["text"]["text"] for o in own] == [f"{FSI}roaming{PDI}", f"{FSI}coverage map{PDI}"]
    assert menu["option_groups"][2]["options"][6]["text"]["text"] == "account access"
    for option in (o for g in menu["option_groups"] for o in g["options"]):  # every option carries the buttons' ids
        assert json.loads(option["value"].partition("|")[2]) == {"o": 11, "q": 3, "m": 7, "i": 5}


def test_a_payload_queued_before_categories_offers_sentiment_and_complaint() -> None:
    _, blocks = alert_blocks(payload())
    assert not block_problems(blocks) and list(groups_of(menu_of(blocks))) == ["Sentiment", "Complaint"]


def test_hostile_names_are_isolated_and_the_menu_keeps_within_slacks_limits() -> None:
    brand = "\u202eKestrel <!channel> & " + "Mobile " * 20
    many = [f"topic_{n}" for n in range(120)]
    menu = reclassify_menu(payload(brand=brand, categories=list(URGENCY_CATEGORIES),
                                   own_categories=["bad|name", *many]), button_value(payload()))
    assert not block_problems([{"type": "actions", "elements": [menu]}])
    label = menu["option_groups"][3]["label"]["text"]
    assert len(label) <= 75 and label.startswith(FSI) and label.endswith(f"{PDI}'s own") and "\u202e" not in label
    assert "<!channel> &" in label  # plain_text is shown as typed: nothing to escape, nothing it can ping
    listed = [o["value"] for g in menu["option_groups"] for o in g["options"]]
    assert len(listed) == MENU_OPTIONS_MAX  # 15 of sentiment, complaint and built-in, then the first 85 own
    assert not any(v.startswith("urgency_category=bad") for v in listed) and listed[-1].startswith("urgency_category"
                                                                                                   "=topic_84|")
    # a value Slack would cut carries broken ids: the option is left out rather than cut
    huge = payload(mention_id=10**26, queue_item_id=10**26, _outbox_id=10**26, categories=["none"],
                   own_categories=["short", "x" * 32])
    big_menu = reclassify_menu(huge, button_value(huge))
    assert big_menu is not None
    values = [o["value"] for g in big_menu["option_groups"] for o in g["options"]]
    assert all(len(v) <= 150 and json.loads(v.partition("|")[2])["m"] == 10**26 for v in values)
    assert [v.partition("|")[0] for v in values][-3:] == ["complaint=no", "urgency_category=none",
                                                          "urgency_category=short"]
    # when not even a sentiment fits, there is no menu (Slack refuses one without options); the buttons stay
    _, blocks = alert_blocks(payload(mention_id=10**40, queue_item_id=10**40, _outbox_id=10**40))
    assert not block_problems(blocks)
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]] == [
        "claim", "not_relevant", "open_post"]


def test_a_routed_alert_offers_its_brands_categories_and_a_click_reclassifies(sqlite_db: Database,
                                                                               slack: SlackLoopback) -> None:
    settings = make_settings(brands=BRANDS)
    wired = Wired(sqlite_db, settings, slack, Clock(T0 + timedelta(hours=1)))
    (mention_id,) = store(sqlite_db, [Post("no signal anywhere in Lisbon since I landed")])
    wired.route()
    wired.drain()
    (message,) = slack.top_level()  # the loopback refuses blocks past Slack's limits: it was accepted
    groups = groups_of(menu_of(message["blocks"]))
    assert groups["Category"] == [f"urgency_category={name}" for name in URGENCY_CATEGORIES]
    # the brand's "billing" replaces the built-in one (offered once) and a name over 32 characters is not offered
    assert groups[f"{FSI}Kestrel Mobile{PDI}'s own"] == [f"urgency_category={name}" for name in OWN]
    assert LONG not in json.dumps(message["blocks"])

    handler = ActionHandler(sqlite_db, settings.slack, clock=wired.clock, sla=settings.sla,
                            categories=brand_categories(settings.brands))
    with sqlite_db.session() as session:
        before = session.scalars(select(QueueItemRow.urgency_level)).one()
    (result,) = handler.handle_payload(click(message, "reclassify", option="urgency_category=roaming"))
    assert result.ok and result.note == "urgency_category: roaming"
    with sqlite_db.session() as session:
        assert session.scalars(select(LabelledExampleRow.urgency_category)).all() == ["roaming"]
        item = session.scalars(select(QueueItemRow).where(QueueItemRow.mention_id == mention_id)).one()
        rearmed = session.scalars(select(OutboxRow.payload)).one()
    assert (before, item.urgency_level) == ("high", "critical")  # roaming's weight 1.0 moved the priority
    assert rearmed["own_categories"] == list(OWN)  # the edited message keeps its menu
    wired.drain()
    shown = message_as_text(slack.top_level()[0])
    assert "Reclassified by @U1ABC" in shown and "(urgency_category: roaming)" in shown
    assert groups_of(menu_of(slack.top_level()[0]["blocks"])) == groups
