"""The digest page and Slack summary: self-contained, escaped, readable in headless Chromium."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.slack_digest import summary_blocks
from core.storage import Database
from monitor.digest.build import build_digest
from monitor.digest.job import slack_payload
from monitor.digest.render import duration, pct, render_html
from monitor.digest.weeks import parse_week
from monitor.pipeline.route import route_pending
from tests.support.alerts import Post, store
from tests.support.digest import BRAND, NOW, RIVAL, Rows, day, hand_week
from tests.support.settings import make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def page_html(sqlite_db: Database) -> str:
    hand_week(sqlite_db)
    Rows(sqlite_db, prefix="extra-").mention(day(2, 12), sentiment="positive", text="<script>alert(3)</script> love it",
                            url="javascript:alert(4)", followers=80000)
    digest = build_digest(sqlite_db, brand=BRAND, week=parse_week("2026-W47"), now=NOW, competitors=[RIVAL],
                          theme_embedder="tfidf")
    return render_html(digest, report_json="kestrel-mobile-2026-W47.json")


def test_page_is_self_contained_and_escapes_every_untrusted_string(page_html: str) -> None:
    assert "<script" not in page_html.lower()
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page_html and "&lt;img src=x onerror=" in page_html
    assert "\u202e" not in page_html and "&lt;U+202E&gt;evil" in page_html
    assert "javascript:" not in page_html
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!x\.com/u/status/)""", page_html)
    assert page_html.count("data:image/svg+xml;base64,") >= 5
    assert "Content-Security-Policy" in page_html and "default-src 'none'" in page_html
    for figure in ("2026-W47", "70.6%", "29.4%", "30m", "1h 16m", "40%", "Thu 19 Nov 09:00–10:00"):
        assert figure in page_html, figure


def test_formatting_helpers() -> None:
    assert (pct(0.375), pct(None), pct(-0.1, signed=True)) == ("38%", "—", "-10 pts")
    assert (duration(42), duration(76), duration(3000), duration(None)) == ("42m", "1h 16m", "2d 2h", "—")


def test_slack_summary_escapes_and_carries_the_figures(sqlite_db: Database, tmp_path: Path) -> None:
    hand_week(sqlite_db)
    digest = build_digest(sqlite_db, brand=BRAND, week=parse_week("2026-W47"), now=NOW, competitors=[RIVAL],
                          theme_embedder="tfidf")
    payload = slack_payload(digest, report_path=tmp_path / "r.html", report_url="https://intra.example/d/r.html")
    payload["themes"][0]["name"] = "<!channel> <https://evil.example|click>"
    fallback, blocks = summary_blocks(payload)
    text = "\n".join(str(block) for block in blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "<https://evil.example" not in text
    assert "<https://intra.example/d/r.html|Open the full report>" in text
    assert "11 (+38% vs last week)" in text and "40%" in text and "30m / 1h 16m" in text and "2 of 5" in text
    assert fallback.startswith("Weekly digest Kestrel Mobile 2026-W47: 11 mentions, 40% negative")
    payload["report_url"] = None
    assert "r.html`" in str(summary_blocks(payload)[1][-1])


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("BRANDMON_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is required here but missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.mark.browser
def test_page_opens_in_headless_chromium_and_shows_the_hostile_name_as_text(page_html: str, tmp_path: Path) -> None:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    report = tmp_path / "digest.html"
    report.write_text(page_html, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests: list[str] = []
            dialogs: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(report.as_uri())
            page.screenshot(path=str(tmp_path / "digest.png"), full_page=True)
            assert page.evaluate("document.querySelectorAll('script, iframe, object, embed').length") == 0
            loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert len(loaded) >= 5 and all(loaded)
            body = page.inner_text("body")
            assert '<img src=x onerror="alert(1)"><script>alert(2)</script><U+202E>evil' in body
            assert "Kestrel Mobile: weekly digest" in body
        finally:
            browser.close()
    assert dialogs == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert (tmp_path / "digest.png").stat().st_size > 50_000


def test_the_case_figures_and_recovery_examples_are_on_the_page_escaped(sqlite_db: Database,
                                                                        tmp_path: Path) -> None:
    settings = make_settings(slack={"enabled": False})
    start = day(1, 9)
    store(sqlite_db, [
        Post("@KestrelMobile <script>alert(5)</script> charged twice \u202eevil", at=start, handle="jo",
             external_id="c1", category="billing"),
        Post("Sorry! Refunded.", at=start + timedelta(minutes=30), handle="KestrelMobile", external_id="c2",
             parent_id="c1", raw={"from_brand": True}, sentiment="neutral", complaint=False),
        Post("@KestrelMobile <b>all sorted</b>, thank you", at=start + timedelta(minutes=40), handle="jo",
             external_id="c3", parent_id="c2", sentiment="positive", complaint=False)])
    route_pending(sqlite_db, settings, now=NOW)
    digest = build_digest(sqlite_db, brand=BRAND, week=parse_week("2026-W47"), now=NOW, theme_embedder="tfidf")
    cases = digest.cases
    assert cases is not None and (cases.cases, cases.responded, cases.first_response_p50_min) == (1, 1, 30)
    assert (cases.recovered, cases.began_negative, cases.first_contact_resolutions) == (1, 1, 1)
    page = render_html(digest)
    assert "Cases: conversations with customers" in page and "Recovered: case #" in page
    assert "<script>alert(5)" not in page and "&lt;script&gt;alert(5)&lt;/script&gt;" in page
    assert "&lt;b&gt;all sorted&lt;/b&gt;" in page and "\u202e" not in page
    assert "1 of 1 customer conversations answered" in page
    payload = slack_payload(digest, report_path=tmp_path / "r.html", report_url=None)
    assert payload["response"]["basis"] == "cases" and payload["response"]["p50_min"] == 30
