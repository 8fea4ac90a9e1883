"""The web page over HTTP (FastAPI's TestClient): login, roles, CSRF, escaping, the claim-reply-resolve path."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.storage import Database
from core.storage.queue_tables import SavedReplyRow, UserRow
from core.storage.schema import QueueItemRow, ReplyRow
from monitor.queue.items import audit_trail
from monitor.web.context import safe_next
from tests.support.web import PASSWORD, SCRIPT_POST, WebSetup, csrf_of, login, seed_follow_up, web_setup


@pytest.fixture
def setup(db: Database) -> WebSetup:
    return web_setup(db)


@pytest.fixture
def client(setup: WebSetup) -> TestClient:
    return TestClient(setup.app, base_url="http://testserver")


def test_pages_need_a_login_and_a_wrong_password_is_refused(client: TestClient) -> None:
    response = client.get("/items/1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fitems%2F1"
    refused = login(client, "ana", "not the password")
    assert refused.status_code == 401 and "wrong username or password" in refused.text
    assert login(client, "nobody", PASSWORD).status_code == 401
    ok = login(client, "ana")
    assert ok.status_code == 200 and "Reply queue" in ok.text
    cookie = ok.history[0].headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_login_only_redirects_within_the_site() -> None:
    assert safe_next("/items/3?x=1") == "/items/3?x=1"
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", ""):
        assert safe_next(target) == "/"


def test_form_posts_need_the_session_csrf_token_and_same_origin(setup: WebSetup, client: TestClient) -> None:
    login(client, "ana")
    item = setup.items["200"]
    assert client.post(f"/items/{item}/claim", data={}).status_code == 403
    assert client.post(f"/items/{item}/claim", data={"csrf_token": "forged"}).status_code == 403
    token = csrf_of(client.get("/").text)
    cross = client.post(f"/items/{item}/claim", data={"csrf_token": token}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403 and "cross-site" in cross.text
    other = TestClient(setup.app)
    login(other, "root")
    assert other.post(f"/items/{item}/claim", data={"csrf_token": token}).status_code == 403  # another session's
    with setup.db.session() as session:
        assert session.get(QueueItemRow, item).status == "new"  # type: ignore[union-attr]
    assert client.post(f"/items/{item}/claim", data={"csrf_token": token}).status_code == 200


def test_roles_keep_responders_out_of_admin_pages(client: TestClient, setup: WebSetup) -> None:
    login(client, "ana")
    assert client.get("/admin").status_code == 403
    assert client.get("/audit").status_code == 403
    admin = TestClient(setup.app)
    login(admin, "root")
    token = csrf_of(admin.get("/admin").text)
    admin.post("/admin/users", data={"username": "ben", "password": "another long one", "role": "responder",
                                     "csrf_token": token})
    admin.post("/admin/saved-replies", data={"name": "dm", "text": "Hi {first_name}, please DM us.", "network": "x",
                                             "kind": "respond", "csrf_token": token})
    bad = admin.post("/admin/saved-replies", data={"name": "bad", "text": "Hi {surname}", "csrf_token": token})
    assert "unknown variable {surname}" in bad.text
    with setup.db.session() as session:
        assert session.execute(select(UserRow.role).where(UserRow.username == "ben")).scalar() == "responder"
        assert session.execute(select(SavedReplyRow.name)).scalars().all() == ["dm"]
    assert "user_added" in admin.get("/audit").text.replace(" ", "_")


def test_untrusted_text_is_escaped_and_no_script_may_run(setup: WebSetup, client: TestClient) -> None:
    login(client, "ana")
    for page in (client.get("/"), client.get(f"/items/{setup.items['100']}")):
        assert "<script>window" not in page.text and "<b>twice" not in page.text
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page.text
        assert '"><img' not in page.text and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers scripts
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["x-frame-options"] == "DENY"
    assert SCRIPT_POST not in client.get(f"/items/{setup.items['100']}").text


def test_claim_reply_and_resolve_over_http(setup: WebSetup, client: TestClient) -> None:
    login(client, "ana")
    item = setup.items["200"]
    page = client.get(f"/items/{item}")
    assert 'id="addressed"' in page.text and "spoke to" in page.text  # Jo @-mentioned the brand
    assert 'id="addressed"' not in client.get(f"/items/{setup.items['100']}").text
    page = client.post(f"/items/{item}/claim", data={"csrf_token": csrf_of(page.text)})
    assert "You have item" in page.text and 'id="item-holder">ana<' in page.text
    page = client.get(f"/items/{item}?saved=outage")
    assert "Hi Jo, sorry: engineers are on it. – Kestrel Mobile</textarea>" in page.text
    form = {"csrf_token": csrf_of(page.text), "seen_newest": re.search(r'name="seen_newest" value="(\d+)"', page.text)
            .group(1), "seen_replies": "0"}  # type: ignore[union-attr]
    checked = client.post(f"/items/{item}/reply", data={**form, "text": "See https://status.kestrel.example",
                                                         "action": "check"})
    assert "costs more" in checked.text and "27 / 280" in checked.text
    too_long = client.post(f"/items/{item}/reply", data={**form, "text": "x" * 281, "action": "send"})
    assert too_long.status_code == 400 and "the limit is 280" in too_long.text
    sent = client.post(f"/items/{item}/reply", data={**form, "text": "Hi Jo, sorry! Engineers are on it.",
                                                      "action": "send"})
    assert "Reply posted: https://x.com/KestrelMobile/status/9001" in sent.text
    assert setup.source.posted == [("200", "Hi Jo, sorry! Engineers are on it.")]
    resolved = client.post(f"/items/{item}/status", data={"csrf_token": form["csrf_token"], "status": "resolved"})
    assert f"Item {item} is now resolved." in resolved.text and f'data-item="{item}"' not in resolved.text
    assert [(r.actor, r.action) for r in reversed(audit_trail(setup.db, item_id=item))] == [
        ("brandmon", "queued"), ("ana", "claimed"), ("ana", "reply_queued"), ("ana", "reply_posted"),
        ("ana", "resolved")]


def test_a_thread_that_changed_after_opening_refuses_the_send_until_reloaded(setup: WebSetup,
                                                                            client: TestClient) -> None:
    login(client, "ana")
    item = setup.items["100"]
    page = client.post(f"/items/{item}/claim", data={"csrf_token": csrf_of(client.get("/").text)})
    opened = {"csrf_token": csrf_of(page.text), "text": "Hi Mal, refund on its way.", "action": "send",
              "seen_newest": re.search(r'name="seen_newest" value="(\d+)"', page.text).group(1),  # type: ignore[union-attr]
              "seen_replies": "0"}
    seed_follow_up(setup)
    refused = client.post(f"/items/{item}/reply", data=opened)
    assert refused.status_code == 409 and "the thread changed after you opened it" in refused.text
    assert "hello?? still waiting" in refused.text  # the reloaded page shows what is new
    assert "Hi Mal, refund on its way.</textarea>" in refused.text  # and keeps the draft
    assert setup.source.posted == []
    again = client.post(f"/items/{item}/reply", data={**opened, "seen_newest": re.search(
        r'name="seen_newest" value="(\d+)"', refused.text).group(1)})  # type: ignore[union-attr]
    assert "Reply posted" in again.text and len(setup.source.posted) == 1


def test_thank_reclassify_and_snooze(setup: WebSetup, client: TestClient) -> None:
    login(client, "ana")
    item = setup.items["300"]
    token = csrf_of(client.post(f"/items/{item}/claim", data={"csrf_token": csrf_of(client.get("/").text)}).text)
    page = client.get(f"/items/{item}?thank=1")
    assert "Thank you, Jo! We&#39;re so glad to hear it.</textarea>" in page.text
    client.post(f"/items/{item}/reclassify", data={"csrf_token": token, "sentiment": "neutral", "complaint": "no",
                                                   "urgency_category": ""})
    snoozed = client.post(f"/items/{item}/status", data={"csrf_token": token, "status": "snoozed",
                                                         "snooze_minutes": "240"})
    assert "is now snoozed" in snoozed.text
    with setup.db.session() as session:
        row = session.get(QueueItemRow, item)
    assert row is not None and row.status == "snoozed"
    assert [r.action for r in audit_trail(setup.db, item_id=item)][:2] == ["snoozed", "reclassified"]
    assert setup.db.dialect in ("sqlite", "postgresql")
    with setup.db.session() as session:
        assert session.execute(select(ReplyRow)).first() is None
