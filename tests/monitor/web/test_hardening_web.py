"""Issue 17, the web half: names that cannot lie, a login that resists guessing, sessions that really end,
Secure cookies behind HTTPS, and inputs that are range-checked instead of crashing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.settings import Secrets
from core.storage import Database
from core.storage.queue_tables import ThreadViewRow
from core.storage.schema import AuditRow
from monitor.web import create_app
from tests.support.clock import Clock
from tests.support.queue import NOW, post, seed
from tests.support.web import PASSWORD, WebSetup, csrf_of, login, web_setup

#: The strings from issue 17: they read "Kestrel mobile support" and "userexe.png" when not isolated.
LYING_NAME = "Kestrel \u202eelibom\u202c support"
LYING_HANDLE = "user\u202egnp.exe"


def app_with(setup: WebSetup, clock: Callable[[], datetime], **web: object) -> FastAPI:
    """Build another app over the same database, with its own clock and web settings."""
    settings = setup.settings.model_copy(update={"web": setup.settings.web.model_copy(update=web)})
    return create_app(settings, setup.db, clock=clock,
                      secrets_=Secrets.model_validate({"web_session_secret": "test-only-session-key"}))


def try_login(client: TestClient, username: str, password: str) -> object:
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "next": "/",
                                       "csrf_token": csrf_of(page.text)}, follow_redirects=False)


@pytest.fixture
def setup(sqlite_db: Database) -> WebSetup:
    return web_setup(sqlite_db)


def test_untrusted_names_are_isolated_and_their_controls_shown(setup: WebSetup) -> None:
    seeded = seed(setup.db, setup.settings, [post("900", "refund me \u202eplease", handle=LYING_HANDLE,
                                                  name=LYING_NAME, minutes_ago=2)])
    client = TestClient(setup.app)
    login(client, "ana")
    for page in (client.get("/"), client.get(f"/items/{seeded['900'][1]}")):
        assert page.status_code == 200
        assert "\u202e" not in page.text and "\u202c" not in page.text  # no raw override reaches the browser
        assert ('<bdi class="untrusted">Kestrel <span class="ctl" title="right-to-left override">&lt;U+202E&gt;'
                '</span>elibom<span class="ctl" title="pop directional formatting">&lt;U+202C&gt;</span> support'
                '</bdi>') in page.text
        assert '<bdi class="untrusted">user<span class="ctl" title="right-to-left override">' in page.text
    css = client.get("/static/style.css").text
    assert re.search(r"bdi, \.untrusted \{ unicode-bidi: isolate; \}", css)


def test_wrong_passwords_are_throttled_per_user_with_backoff_and_audited(db: Database) -> None:
    setup = web_setup(db)
    clock = Clock(NOW)
    client = TestClient(app_with(setup, clock))
    codes = [try_login(client, "ana", f"wrong guess {n}").status_code for n in range(8)]  # type: ignore[attr-defined]
    assert codes[:5] == [401] * 5 and 429 in codes[5:]
    refused = try_login(client, "ana", PASSWORD)  # even the right password waits its turn
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
    first_wait = int(refused.headers["retry-after"])  # type: ignore[attr-defined]
    clock.advance(seconds=first_wait)
    assert try_login(client, "ana", "wrong again").status_code == 401  # type: ignore[attr-defined]
    longer = try_login(client, "ana", PASSWORD)
    assert longer.status_code == 429 and int(longer.headers["retry-after"]) > first_wait  # type: ignore[attr-defined]
    clock.advance(seconds=int(longer.headers["retry-after"]))  # type: ignore[attr-defined]
    assert try_login(client, "ana", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    with db.session() as session:
        actions = session.execute(select(AuditRow.action, AuditRow.detail).where(
            AuditRow.actor == "web-login")).all()
    failed = [detail for action, detail in actions if action == "login_failed"]
    assert len(failed) == 6 and all(d["username"] == "ana" and d["address"] for d in failed)
    assert any(action == "login_throttled" for action, _ in actions)


def test_one_address_guessing_many_users_is_throttled(setup: WebSetup) -> None:
    client = TestClient(app_with(setup, Clock(NOW)))
    codes = [try_login(client, f"user{n}", "wrong password").status_code for n in range(22)]  # type: ignore[attr-defined]
    assert codes[:20] == [401] * 20 and codes[21] == 429
    other = TestClient(app_with(setup, Clock(NOW)), client=("10.0.0.9", 5000))  # another address is not held up
    assert try_login(other, "ana", PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_logout_ends_the_session_for_a_copied_cookie_too(setup: WebSetup) -> None:
    client = TestClient(setup.app)
    login(client, "ana")
    copied = dict(client.cookies)
    thief = TestClient(setup.app, cookies=copied)
    assert thief.get("/", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    assert thief.get("/", follow_redirects=False).status_code == 303
    token = csrf_of(thief.get("/login").text)
    assert thief.post(f"/items/{setup.items['200']}/claim", data={"csrf_token": token},
                      follow_redirects=False).status_code in (303, 403)
    with setup.db.session() as session:
        assert session.execute(select(AuditRow).where(AuditRow.action == "claimed")).first() is None


def test_password_change_needs_the_current_one_and_ends_every_other_session(setup: WebSetup) -> None:
    laptop, phone = TestClient(setup.app), TestClient(setup.app)
    login(laptop, "ana")
    login(phone, "ana")
    page = laptop.get("/account/password")
    assert page.status_code == 200 and 'action="/account/password"' in page.text
    form = {"csrf_token": csrf_of(page.text), "current": "not it at all", "new": "a brand new secret",
            "confirm": "a brand new secret"}
    wrong = laptop.post("/account/password", data=form)
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    changed = laptop.post("/account/password", data={**form, "current": PASSWORD})
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert laptop.get("/", follow_redirects=False).status_code == 200  # the session that changed it goes on
    assert phone.get("/", follow_redirects=False).status_code == 303  # every other one has ended
    assert login(TestClient(setup.app), "ana").status_code == 401
    assert login(TestClient(setup.app), "ana", "a brand new secret").status_code == 200


def _session_cookie(client: TestClient) -> str:
    """Return the session cookie a first visit to the login page sets (it carries the CSRF token)."""
    response = client.get("/login")
    return next(v for v in response.headers.get_list("set-cookie") if v.startswith("brandmon_session="))


def test_cookies_are_secure_over_https_or_behind_a_proxy_that_is_trusted(setup: WebSetup) -> None:
    assert "secure" not in _session_cookie(TestClient(setup.app, base_url="http://testserver")).lower()
    direct = TestClient(setup.app, base_url="https://testserver")
    assert "; secure" in _session_cookie(direct).lower()
    assert login(direct, "ana").status_code == 200  # and a login over HTTPS works with it
    https_proxy = {"x-forwarded-proto": "https"}
    untrusted = TestClient(setup.app, headers=https_proxy)
    assert "secure" not in _session_cookie(untrusted).lower()  # anyone can send that header
    trusted = TestClient(app_with(setup, Clock(NOW), trust_proxy_headers=True), headers=https_proxy)
    assert "; secure" in _session_cookie(trusted).lower()
    plain_behind_proxy = TestClient(app_with(setup, Clock(NOW), trust_proxy_headers=True),
                                    headers={"x-forwarded-proto": "http"})
    assert "secure" not in _session_cookie(plain_behind_proxy).lower()


def test_out_of_range_inputs_are_refused_without_a_500(setup: WebSetup) -> None:
    client = TestClient(setup.app, raise_server_exceptions=False)
    login(client, "ana")
    token = csrf_of(client.get("/").text)
    item = setup.items["200"]
    checks = {
        "huge snooze": client.post(f"/items/{item}/status", data={"csrf_token": token, "status": "snoozed",
                                                                  "snooze_minutes": "99999999999"}),
        "huge id": client.get("/items/99999999999999999999"),
        "missing item, thank": client.get("/items/999999?thank=1"),
        "missing item, saved": client.get("/items/999999?saved=outage"),
        "huge id post": client.post("/items/99999999999999999999/claim", data={"csrf_token": token}),
        "huge seen": client.post(f"/items/{item}/reply", data={"csrf_token": token, "text": "hi",
                                                               "seen_newest": "9" * 30, "seen_replies": "0"}),
        "NUL brand": client.get("/?brand=a%00b"),
        "NUL reply": client.post(f"/items/{item}/reply", data={"csrf_token": token, "text": "a\x00b"}),
    }
    for name, response in checks.items():
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])


def test_opening_an_item_records_nothing_and_the_reply_post_records_what_was_seen(setup: WebSetup) -> None:
    client = TestClient(setup.app)
    login(client, "ana")
    item = setup.items["200"]
    page = client.post(f"/items/{item}/claim", data={"csrf_token": csrf_of(client.get("/").text)})
    client.get(f"/items/{item}")
    with setup.db.session() as session:
        assert session.execute(select(ThreadViewRow)).first() is None  # a GET changed nothing
    seen = re.search(r'name="seen_newest" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    no_csrf = client.post(f"/items/{item}/reply", data={"text": "Hi Jo!", "seen_newest": seen, "seen_replies": "0"})
    assert no_csrf.status_code == 403
    sent = client.post(f"/items/{item}/reply", data={"csrf_token": csrf_of(page.text), "text": "Hi Jo, on it.",
                                                      "seen_newest": seen, "seen_replies": "0"})
    assert "Reply posted" in sent.text
    with setup.db.session() as session:
        assert session.execute(select(ThreadViewRow.actor)).scalars().all() == ["ana"]
