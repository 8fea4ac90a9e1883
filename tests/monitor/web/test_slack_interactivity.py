"""Button clicks: signed like Slack signs them, acknowledged at once, the queue item changed, the message edited."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback, message_as_text
from core.storage import Database
from core.storage.schema import AuditRow, OutboxRow, QueueItemRow
from monitor.web.slack_actions import (
    ActionHandler,
    SignatureError,
    build_router,
    sign,
    socket_mode_listener,
    verify_signature,
)
from tests.conftest import make_settings
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def test_signatures_are_checked_like_slack_checks_them() -> None:
    body = b"payload=%7B%7D"
    now = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    stamp = str(int(now.timestamp()))
    verify_signature(SECRET, timestamp=stamp, signature=sign(SECRET, stamp, body), body=body, now=now)
    # Slack's documented example request signs to this value
    example = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZ"
        b"RskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign(SECRET, "1531420618", example) == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, timestamp=stamp, signature=sign("other", stamp, body), body=body, now=now)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, timestamp=stamp, signature=sign(SECRET, stamp, body), body=body + b"x", now=now)
    old = str(int((now - timedelta(minutes=6)).timestamp()))
    with pytest.raises(SignatureError, match="replay"):
        verify_signature(SECRET, timestamp=old, signature=sign(SECRET, old, body), body=body, now=now)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(SECRET, timestamp=None, signature=None, body=body, now=now)
    with pytest.raises(SignatureError, match="no signing secret"):
        verify_signature("", timestamp=stamp, signature="v0=x", body=body, now=now)




@pytest.fixture
def alerted(sqlite_db: Database, slack: SlackLoopback) -> Wired:
    """An incident of two posts in #care-urgent: its message and one thread reply."""
    wired = Wired(sqlite_db, make_settings(), slack, Clock(T0 + timedelta(hours=1)))
    store(
        sqlite_db,
        [
            Post("no signal in Leeds since this morning"),
            Post("no signal in York since this morning", at=T0 + timedelta(minutes=1)),
        ],
    )
    wired.route()
    wired.drain()
    return wired


def click(message: dict[str, Any], action_id: str, *, user: str = "U1ABC", option: str | None = None) -> dict[str, Any]:
    """Build the block_actions payload Slack sends when a button of `message` is pressed."""
    element = next(
        e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id
    )
    action: dict[str, Any] = {"action_id": action_id, "block_id": "b", "type": element["type"]}
    if option is not None:
        listed = element.get("options") or [o for group in element["option_groups"] for o in group["options"]]
        action["selected_option"] = next(o for o in listed if o["value"].startswith(option))
    else:
        action["value"] = element["value"]
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
        "channel": {"id": message["channel"]},
        "actions": [action],
    }


def signed(payload: dict[str, Any], *, at: float, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(at))
    return body, {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(secret, stamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def app_for(wired: Wired) -> TestClient:
    handler = ActionHandler(wired.db, wired.settings.slack, clock=wired.clock)
    app = FastAPI()
    app.include_router(build_router(handler, signing_secret=lambda: SECRET), prefix="/slack/actions")
    return TestClient(app)


def item_of(db: Database, mention_id: int) -> QueueItemRow:
    with db.session() as session:
        return session.execute(select(QueueItemRow).where(QueueItemRow.mention_id == mention_id)).scalar_one()


def test_a_signed_claim_is_acknowledged_then_claims_and_the_message_shows_who(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    reply = copy.deepcopy(alerted.slack.thread(root["ts"])[0])  # as the clicker's Slack client last saw it
    client = app_for(alerted)
    now = alerted.clock().timestamp()
    body, headers = signed(click(reply, "claim"), at=now)
    response = client.post("/slack/actions", content=body, headers=headers)
    assert response.status_code == 200 and response.text == ""
    mention_id = json.loads(next(e for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"])["value"])[
        "m"
    ]
    item = item_of(alerted.db, mention_id)
    assert item.status == "claimed" and item.claimed_by == "slack:U1ABC"
    with alerted.db.session() as session:
        assert (
            session.execute(select(AuditRow).where(AuditRow.queue_item_id == item.id, AuditRow.action == "claimed"))
            .scalar_one()
            .actor
            == "slack:U1ABC"
        )
    alerted.drain()
    shown = message_as_text(alerted.slack.thread(root["ts"])[0])
    assert "Claimed by @U1ABC" in shown and "[Claim]" not in shown
    assert len(alerted.slack.all_messages()) == 2  # edited, not reposted

    # someone else presses Claim on a stale copy: refused, and the message says so
    body, headers = signed(click(reply, "claim", user="U2XYZ"), at=now)
    assert client.post("/slack/actions", content=body, headers=headers).status_code == 200
    assert item_of(alerted.db, mention_id).claimed_by == "slack:U1ABC"
    alerted.drain()
    assert "Could not claim by @U2XYZ" in message_as_text(alerted.slack.thread(root["ts"])[0])


def test_forged_and_replayed_requests_change_nothing(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    client = app_for(alerted)
    payload = click(root, "claim")
    with alerted.db.session() as session:
        before = session.execute(select(OutboxRow.status, OutboxRow.payload)).all()
    now = alerted.clock().timestamp()
    forged_body, forged = signed(payload, at=now, secret="not-the-secret")
    assert client.post("/slack/actions", content=forged_body, headers=forged).status_code == 401
    old_body, old = signed(payload, at=now - 3600)
    assert client.post("/slack/actions", content=old_body, headers=old).status_code == 401
    body, headers = signed(payload, at=now)
    tampered = body.replace(b"U1ABC", b"U9EVE")
    assert client.post("/slack/actions", content=tampered, headers=headers).status_code == 401
    with alerted.db.session() as session:
        assert session.execute(select(OutboxRow.status, OutboxRow.payload)).all() == before
        assert session.execute(select(QueueItemRow).where(QueueItemRow.status != "new")).first() is None


def test_reclassify_and_not_relevant_from_a_thread_reply(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    reply = alerted.slack.thread(root["ts"])[0]
    handler = ActionHandler(alerted.db, alerted.settings.slack, clock=alerted.clock)
    (result,) = handler.handle_payload(click(reply, "reclassify", option="sentiment=positive"))
    assert result.ok and result.note == "sentiment: positive"
    (result,) = handler.handle_payload(click(reply, "not_relevant"))
    assert result.ok
    with alerted.db.session() as session:
        actions = set(session.execute(select(AuditRow.action)).scalars())
        statuses = sorted(session.execute(select(QueueItemRow.status)).scalars())
    assert {"reclassified", "marked_not_relevant"} <= actions
    assert statuses == ["new", "not_relevant"]  # the incident's other post is untouched
    alerted.drain()
    shown = message_as_text(alerted.slack.thread(root["ts"])[0])
    assert "Reclassified by @U1ABC" in shown and "(sentiment: positive)" in shown and "Marked not relevant" in shown


def test_socket_mode_acknowledges_before_it_works(alerted: Wired) -> None:
    root = alerted.slack.top_level()[0]
    events: list[str] = []

    class Client:
        def send_socket_mode_response(self, response: Any) -> None:
            events.append(f"ack {response.envelope_id}")

    handler = ActionHandler(
        alerted.db, alerted.settings.slack, clock=alerted.clock, on_change=lambda: events.append("changed")
    )
    listener = socket_mode_listener(handler)
    listener(Client(), SocketModeRequest(type="events_api", envelope_id="e0", payload={}))
    listener(Client(), SocketModeRequest(type="interactive", envelope_id="e1", payload=click(root, "claim")))
    assert events == ["ack e1", "changed"]
    alerted.drain()
    assert "Claimed by @U1ABC" in message_as_text(alerted.slack.top_level()[0])
