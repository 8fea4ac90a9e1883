"""Hypothesis drives the web forms and /slack/actions with random and hostile input: never a 500, never a crash.

TestClient re-raises any exception the app lets escape, so a crash fails the example as loudly as a 500 does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.storage import Database
from tests.monitor.web.test_hardening_slack import _signed_raw
from tests.monitor.web.test_slack_interactivity import alerted, app_for  # noqa: F401 (fixture)
from tests.support.alerts import Wired
from tests.support.web import WebSetup, csrf_of, login, web_setup

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HOSTILE = st.sampled_from(["\x00", "\u202e", "\ud7ff", "%00", "../../etc/passwd", "<script>", "' OR 1=1 --",
                           "9" * 40, "-1", "0", "1e309", "NaN", "\u0000\u202e\u2066", "x" * 5000, ""])
TEXT = st.one_of(HOSTILE, st.text(max_size=300))
NUMBER = st.one_of(HOSTILE, st.integers(min_value=-(2**80), max_value=2**80).map(str))


@pytest.fixture
def signed_in(db: Database) -> tuple[WebSetup, TestClient, str]:
    setup = web_setup(db)  # both backends: PostgreSQL refuses some text SQLite takes (NUL)
    client = TestClient(setup.app)
    login(client, "root")
    return setup, client, csrf_of(client.get("/").text)


def _ok(response: Any) -> None:
    assert response.status_code < 500, (response.request.method, str(response.request.url), response.text[:300])


@SETTINGS
@given(item=NUMBER, status=TEXT, snooze=NUMBER, text=TEXT, seen=NUMBER, action=TEXT, sentiment=TEXT,
       complaint=TEXT, category=TEXT, saved=TEXT, view=TEXT, brand=TEXT, thank=NUMBER)
def test_the_web_forms_never_answer_500(signed_in: tuple[WebSetup, TestClient, str], item: str, status: str,
                                        snooze: str, text: str, seen: str, action: str, sentiment: str,
                                        complaint: str, category: str, saved: str, view: str, brand: str,
                                        thank: str) -> None:
    setup, client, token = signed_in
    real = str(setup.items["200"])
    for target in (quote(item, safe=""), real):
        _ok(client.get(f"/items/{target}", params={"saved": saved, "thank": thank}))
        _ok(client.post(f"/items/{target}/claim", data={"csrf_token": token}))
        _ok(client.post(f"/items/{target}/status", data={"csrf_token": token, "status": status,
                                                         "snooze_minutes": snooze, "force": "1"}))
        _ok(client.post(f"/items/{target}/reply", data={"csrf_token": token, "text": text, "action": action,
                                                        "seen_newest": seen, "seen_replies": seen}))
        _ok(client.post(f"/items/{target}/reclassify", data={"csrf_token": token, "sentiment": sentiment,
                                                             "complaint": complaint, "urgency_category": category}))
    _ok(client.get("/", params={"view": view, "brand": brand}))
    _ok(client.post("/admin/users", data={"csrf_token": token, "username": text, "password": saved, "role": status}))
    _ok(client.post("/admin/saved-replies", data={"csrf_token": token, "name": saved, "text": text,
                                                  "network": brand, "kind": status}))
    _ok(client.post("/account/password", data={"csrf_token": token, "current": text, "new": saved,
                                                "confirm": saved}))
    anonymous = TestClient(setup.app)
    page = anonymous.get("/login", params={"next": brand})
    _ok(page)
    _ok(anonymous.post("/login", data={"csrf_token": csrf_of(page.text), "username": text, "password": saved,
                                       "next": brand}))


def _json_values() -> st.SearchStrategy[Any]:
    return st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
                        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                st.dictionaries(st.sampled_from(
                                                    ["type", "user", "actions", "container", "channel", "value",
                                                     "action_id", "selected_option", "id", "message_ts"]), inner,
                                                    max_size=5)), max_leaves=20)


@SETTINGS
@given(raw=st.binary(max_size=2000), shaped=_json_values(), value=TEXT)
def test_slack_actions_never_answer_500(alerted: Wired, raw: bytes, shaped: Any, value: str) -> None:  # noqa: F811
    import json
    from urllib.parse import urlencode

    client = app_for(alerted)
    now = alerted.clock().timestamp()
    _ok(client.post("/slack/actions", content=raw))  # unsigned
    _ok(client.post("/slack/actions", content=raw, headers=_signed_raw(raw, now)))
    clicks = {"type": "block_actions", "user": shaped, "container": shaped, "channel": shaped,
              "actions": [{"action_id": a, "value": value} for a in ("claim", "not_relevant", "reclassify")]
              + [shaped]}
    for payload in (shaped, clicks):
        body = urlencode({"payload": json.dumps(payload)}).encode()
        _ok(client.post("/slack/actions", content=body, headers=_signed_raw(body, now)))
