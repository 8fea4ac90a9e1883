"""Issue 17, /slack/actions: the body is capped before it is read, a signed request works once, a button acts
only on the item of the message it is on, and bad bodies are 400s."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.requests import Request

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from core.storage.schema import AuditRow, QueueItemRow
from monitor.web.slack_actions import ActionHandler, sign
from monitor.web.slack_guard import MAX_BODY_BYTES, BodyTooLarge, read_capped
from tests.monitor.web.test_slack_interactivity import SECRET, app_for, click, signed
from tests.support.alerts import T0, Clock, Post, Wired, store
from tests.support.settings import make_settings


@pytest.fixture
def alerted(sqlite_db: Database, slack: SlackLoopback) -> Wired:
    """An incident of two posts in #care-urgent: its message and one thread reply (as in the interactivity tests)."""
    wired = Wired(sqlite_db, make_settings(), slack, Clock(T0 + timedelta(hours=1)))
    store(sqlite_db, [Post("no signal in Leeds since this morning"),
                      Post("no signal in York since this morning", at=T0 + timedelta(minutes=1))])
    wired.route()
    wired.drain()
    return wired


def _signed_raw(body: bytes, at: float) -> dict[str, str]:
    stamp = str(int(at))
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(SECRET, stamp, body),
            "Content-Type": "application/x-www-form-urlencoded"}


def test_an_oversized_body_is_refused_by_its_length_before_any_of_it_is_read(alerted: Wired) -> None:
    client = app_for(alerted)
    response = client.post("/slack/actions", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert client.post("/slack/actions", content=b"x", headers={"content-length": "nope"}).status_code == 400


def test_a_body_without_a_length_is_read_only_up_to_the_cap() -> None:
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 16_384, "more_body": True}  # 200 MB would follow

    request = Request({"type": "http", "method": "POST", "path": "/slack/actions", "headers": []}, receive)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_capped(request))
    assert pulled == MAX_BODY_BYTES // 16_384 + 1  # it stopped as soon as the cap was passed


def test_the_same_signed_request_is_accepted_once(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    client = app_for(alerted)
    body, headers = signed(click(root, "claim"), at=alerted.clock().timestamp())
    assert client.post("/slack/actions", content=body, headers=headers).status_code == 200
    replay = client.post("/slack/actions", content=body, headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.text
    with alerted.db.session() as session:
        assert len(session.execute(select(AuditRow).where(AuditRow.action.in_(("claimed", "claim_renewed"))))
                   .all()) == 1


def _with_carried(payload: dict[str, Any], **changes: int) -> dict[str, Any]:
    """Change what a clicked button carries (item "q", post "m"), as a forged or crossed click would."""
    action = payload["actions"][0]
    if "selected_option" in action:
        option, _, raw = action["selected_option"]["value"].partition("|")
        action["selected_option"] = {**action["selected_option"],
                                     "value": f"{option}|{json.dumps({**json.loads(raw), **changes})}"}
    else:
        action["value"] = json.dumps({**json.loads(action["value"]), **changes})
    return payload


def test_a_button_naming_an_item_that_is_not_on_its_message_changes_nothing(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    reply = alerted.slack.thread(root["ts"])[0]  # the message about one post of the incident
    handler = ActionHandler(alerted.db, alerted.settings.slack, clock=alerted.clock)
    own = json.loads(click(reply, "not_relevant")["actions"][0]["value"])
    with alerted.db.session() as session:
        other_item, other_post = session.execute(select(QueueItemRow.id, QueueItemRow.mention_id).where(
            QueueItemRow.id != own["q"])).one()  # the incident's other post: a real item, on another message
    (result,) = handler.handle_payload(_with_carried(click(reply, "not_relevant"), q=other_item))
    assert not result.ok and "not on this message" in (result.note or "")
    (result,) = handler.handle_payload(_with_carried(click(reply, "reclassify", option="sentiment=positive"),
                                                     m=other_post))
    assert not result.ok and "not on this message" in (result.note or "")
    with alerted.db.session() as session:
        assert set(session.execute(select(QueueItemRow.status)).scalars()) == {"new"}
        assert session.execute(select(AuditRow).where(AuditRow.action.in_(
            ("marked_not_relevant", "reclassified")))).first() is None
    (result,) = handler.handle_payload(click(reply, "not_relevant"))  # the genuine button still works
    assert result.ok


@pytest.mark.parametrize("body", [
    b"payload=%FF%FE%00", b"\xff\xfe\x00payload", b"payload=not json", b"payload=%5B1%2C2%5D",
    b"payload=" + b"%5B" * 5000,
])
def test_bad_signed_bodies_are_400_not_500(alerted: Wired, body: bytes) -> None:
    client = app_for(alerted)
    response = client.post("/slack/actions", content=body, headers=_signed_raw(body, alerted.clock().timestamp()))
    assert response.status_code == 400


def test_an_odd_signature_header_is_401_not_500(alerted: Wired) -> None:
    client = app_for(alerted)
    stamp = str(int(alerted.clock().timestamp()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=\u00e9\u00e9".encode("latin-1")}
    assert client.post("/slack/actions", content=b"payload=%7B%7D", headers=headers).status_code == 401
