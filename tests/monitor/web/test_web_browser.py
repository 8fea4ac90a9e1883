"""The web page in a real browser: Debian's headless Chromium driven by Playwright against uvicorn on loopback."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.storage import Database
from core.storage.schema import QueueItemRow, ReplyRow
from monitor.queue.items import audit_trail
from tests.support.web import PASSWORD, SCRIPT_POST, WebSetup, live_server, seed_follow_up, web_setup

#: Debian's chromium package; BRANDMON_CHROMIUM points elsewhere (e.g. to check the skip path).
CHROMIUM = Path(os.environ.get("BRANDMON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed: pip install playwright"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Launch Debian's headless Chromium once for the module."""
    problem = _browser_missing()
    if problem:
        if os.environ.get("BRANDMON_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def sqlite_setup(sqlite_db: Database) -> WebSetup:
    return web_setup(sqlite_db)


@pytest.fixture
def page(browser: Any, sqlite_setup: WebSetup) -> Iterator[tuple[Any, str, list[str]]]:
    """Yield a fresh browser page, the server's base URL, and any dialogs or page errors seen."""
    events: list[str] = []
    with live_server(sqlite_setup.app) as base_url:
        context = browser.new_context()
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.on("dialog", lambda dialog: (events.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        tab.on("pageerror", lambda error: events.append(f"pageerror: {error}"))
        yield tab, base_url, events
        context.close()


def log_in(tab: Any, base_url: str, username: str = "ana") -> None:
    tab.goto(f"{base_url}/")
    assert "/login" in tab.url
    tab.fill("input[name=username]", username)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button:has-text('Log in')")
    tab.wait_for_selector("h1:has-text('Reply queue')")


def test_log_in_claim_reply_and_resolve(page: tuple[Any, str, list[str]], sqlite_setup: WebSetup) -> None:
    tab, base_url, events = page
    setup = sqlite_setup
    item = setup.items["200"]
    log_in(tab, base_url)
    tab.click(f"tr[data-item='{item}'] td.text a")
    tab.wait_for_selector("#claim")
    tab.click("#claim")
    assert tab.inner_text("#item-holder") == "ana"
    tab.click("a:has-text('outage')")
    assert tab.input_value("#reply-text") == "Hi Jo, sorry: engineers are on it. – Kestrel Mobile"
    tab.fill("#reply-text", "Hi Jo, so sorry. Engineers are on the Leeds mast now: https://status.kestrel.example")
    tab.click("button:has-text('Check')")
    assert "costs more" in tab.inner_text("#link-warning")
    assert re.match(r"\d+ / 280 characters", tab.inner_text("#reply-check"))
    tab.click("#send-reply")
    tab.wait_for_selector("text=Reply posted")
    assert tab.inner_text("a.posted-url") == "https://x.com/KestrelMobile/status/9001"
    assert tab.inner_text("#item-status") == "replied"
    tab.click("#resolve")
    tab.wait_for_selector(f"text=Item {item} is now resolved.")
    assert tab.locator(f"tr[data-item='{item}']").count() == 0
    with setup.db.session() as session:
        row = session.get(QueueItemRow, item)
        posted = session.query(ReplyRow).one()
    assert row is not None and row.status == "resolved"
    assert (posted.external_id, posted.status) == ("9001", "posted")
    assert [(r.actor, r.action) for r in reversed(audit_trail(setup.db, item_id=item))] == [
        ("brandmon", "queued"), ("ana", "claimed"), ("ana", "reply_queued"), ("ana", "reply_posted"),
        ("ana", "resolved")]
    assert events == []


def test_a_post_with_script_in_it_is_shown_as_text(page: tuple[Any, str, list[str]], sqlite_setup: WebSetup) -> None:
    tab, base_url, events = page
    log_in(tab, base_url)
    row_text = tab.inner_text(f"tr[data-item='{sqlite_setup.items['100']}'] td.text")
    assert row_text.startswith("<script>window.__pwned = 1</script>")
    tab.goto(f"{base_url}/items/{sqlite_setup.items['100']}")
    assert tab.inner_text("#post-text") == SCRIPT_POST
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    assert tab.locator("script").count() == 0 and tab.locator("img").count() == 0
    assert tab.locator("#post-text b").count() == 0
    assert 'Mal "><img src=x onerror=alert(1)>' in tab.inner_text("article.post header")
    assert events == []


def test_a_changed_thread_blocks_the_send_until_the_responder_has_seen_it(
        page: tuple[Any, str, list[str]], sqlite_setup: WebSetup) -> None:
    tab, base_url, _ = page
    item = sqlite_setup.items["100"]
    log_in(tab, base_url)
    tab.goto(f"{base_url}/items/{item}")
    tab.click("#claim")
    tab.fill("#reply-text", "Hi Mal, the refund is on its way.")
    seed_follow_up(sqlite_setup)  # a new post arrives while the responder is typing
    tab.click("#send-reply")
    assert "the thread changed after you opened it" in tab.inner_text("#reply-error")
    assert "hello?? still waiting" in tab.inner_text("ol.thread")
    assert tab.input_value("#reply-text") == "Hi Mal, the refund is on its way."
    assert sqlite_setup.source.posted == []
    tab.click("#send-reply")
    tab.wait_for_selector("text=Reply posted")
    # the reply answers the case's newest customer post: the follow-up that arrived while typing
    assert sqlite_setup.source.posted == [("101", "Hi Mal, the refund is on its way.")]
