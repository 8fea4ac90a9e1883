"""Issue 17 in a real browser: the bidi names from the report are isolated and their controls shown, so they
cannot read as something else nor reverse the text after them (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.storage import Database
from tests.monitor.web.test_web_browser import browser, log_in  # noqa: F401 (the module's browser fixture)
from tests.support.queue import post, seed
from tests.support.web import WebSetup, live_server, web_setup

pytestmark = pytest.mark.browser

LYING_NAME = "Kestrel \u202eelibom\u202c support"
LYING_HANDLE = "user\u202egnp.exe"
#: Any character that reorders text, in a JavaScript regular expression.
BIDI_RE = r"/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/"


@pytest.fixture
def lying(sqlite_db: Database) -> tuple[WebSetup, int]:
    setup = web_setup(sqlite_db)
    seeded = seed(setup.db, setup.settings, [post("900", "my bill\u202e is wrong", handle=LYING_HANDLE,
                                                  name=LYING_NAME, minutes_ago=1)])
    item = seeded["900"][1]
    assert item is not None
    return setup, item


@pytest.fixture
def tab(browser: Any, lying: tuple[WebSetup, int]) -> Iterator[tuple[Any, str]]:  # noqa: F811
    with live_server(lying[0].app) as base_url:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page, base_url
        context.close()


def test_names_that_lie_are_isolated_and_shown_with_their_controls(tab: tuple[Any, str],
                                                                   lying: tuple[WebSetup, int]) -> None:
    page, base_url = tab
    _, item = lying
    log_in(page, base_url)
    row = f"tr[data-item='{item}']"
    assert page.inner_text(f"{row} td:nth-child(6) bdi >> nth=0") == "Kestrel <U+202E>elibom<U+202C> support"
    page.goto(f"{base_url}/items/{item}")
    header = "article.post header"
    assert page.inner_text(f"{header} > strong") == "Kestrel <U+202E>elibom<U+202C> support"
    assert page.inner_text(f"{header} > span >> nth=0") == "@user<U+202E>gnp.exe"
    assert "Kestrel mobile support" not in page.inner_text("body")
    assert page.evaluate(f"() => {BIDI_RE}.test(document.body.innerText)") is False
    assert page.evaluate("() => [...document.querySelectorAll('bdi')].every("
                         "e => getComputedStyle(e).unicodeBidi === 'isolate')") is True
    # in the order they are laid out: name, handle, then the time and link after them, nothing reversed
    boxes = [page.locator(selector).bounding_box() for selector in
             (f"{header} > strong", f"{header} > span >> nth=0", f"{header} > a")]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]  # type: ignore[index]
    assert "<U+202E>" in page.inner_text("#post-text")
