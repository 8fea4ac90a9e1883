"""The item page's translation path, through the app's test client, against a loopback LibreTranslate server.

The post's translation is shown beside the original (never instead), labelled and escaped; a failing server is a
notice, never a 500; a reply written in the team's language is translated, shown for approval (editable), and
queued only on approval, with both texts in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.settings import Secrets
from core.storage import Database
from core.storage.schema import AuditRow, ReplyRow
from monitor.queue.translate import LibreTranslateClient, TranslationUnavailable
from monitor.web import create_app
from monitor.web.auth import add_user
from tests.support.languages import seed_in_languages
from tests.support.libretranslate import Fault, LibreTranslateLoopback
from tests.support.queue import NOW, PostingSource, post, seed
from tests.support.settings import make_settings
from tests.support.web import PASSWORD, csrf_of, login

CANCEL = "quiero cancelar mi contrato con kestrel \u202eodaicnuna\u202c"
CANCEL_EN = "I want to cancel my contract with kestrel <b>now</b>"
REPLY = "Sorry to hear that, we can help you cancel. Please send us a DM."
REPLY_ES = "Lamentamos oírlo, podemos ayudarte a cancelar. Envíanos un DM <i>hoy</i>."
GLOSSARY = {("es", "en"): {CANCEL: CANCEL_EN}, ("en", "es"): {REPLY: REPLY_ES}}
SAVED = {"name": "cancel", "kind": "respond", "text": "Hi {first_name}, we can help you cancel. – {brand}",
         "variants": {"es": "Hola {first_name}, te ayudamos a cancelar. – {brand}"}}


@dataclass
class Setup:
    db: Database
    client: TestClient
    server: LibreTranslateLoopback
    source: PostingSource
    items: dict[str, int]


@pytest.fixture
def server() -> Iterator[LibreTranslateLoopback]:
    with LibreTranslateLoopback(GLOSSARY) as loopback:
        yield loopback


def _app(db: Database, server: LibreTranslateLoopback | None) -> tuple[TestClient, PostingSource]:
    settings = make_settings(translation={"url": server.url} if server else {},
                             queue={"lease_min": 30, "saved_replies": [SAVED]})
    source = PostingSource()
    app = create_app(settings, db, sources={source.name: source}, clock=lambda: NOW,
                     secrets_=Secrets.model_validate({"web_session_secret": "test-only-session-key"}))
    return TestClient(app, base_url="http://testserver"), source


@pytest.fixture
def setup(db: Database, server: LibreTranslateLoopback) -> Setup:
    seeded = seed_in_languages(db, make_settings(), {"1": (CANCEL, "es"), "2": ("kestrel has no signal", "en")})
    for name in ("ana", "ben"):
        add_user(db, name, PASSWORD, role="responder")
    client, source = _app(db, server)
    login(client, "ana")
    items = {key: item for key, (_, item) in seeded.items() if item is not None}
    return Setup(db, client, server, source, items)


def _claimed_page(setup: Setup, key: str = "1") -> str:
    page = setup.client.get(f"/items/{setup.items[key]}").text
    claimed = setup.client.post(f"/items/{setup.items[key]}/claim", data={"csrf_token": csrf_of(page)})
    assert claimed.status_code == 200
    return claimed.text


def _seen(page: str) -> dict[str, str]:
    return {name: re.search(rf'name="{name}" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
            for name in ("seen_newest", "seen_replies")}


def _token(page: str) -> str:
    match = re.search(r'name="proposal" value="([^"]+)"', page)
    assert match, "the page carries no proposed translation"
    return unescape(match.group(1))


def _propose(setup: Setup, page: str, text: str = REPLY) -> tuple[int, str]:
    response = setup.client.post(f"/items/{setup.items['1']}/translate-reply",
                                 data={"csrf_token": csrf_of(page), "text": text})
    return response.status_code, response.text


def test_the_translation_is_shown_beside_the_original_labelled_escaped_and_cached(setup: Setup) -> None:
    page = setup.client.get(f"/items/{setup.items['1']}").text
    original = page.split('id="post-text"', 1)[1].split("</blockquote>", 1)[0]
    assert "quiero cancelar mi contrato" in original and "&lt;U+202E&gt;" in original  # the original stays
    assert "\u202e" not in page  # the override is shown, never applied
    translation = page.split('id="translation"', 1)[1].split("</figure>", 1)[0]
    assert "Machine translation from" in translation and ">es</bdi> to <bdi" in translation
    assert '<bdi class="untrusted">I want to cancel my contract with kestrel &lt;b&gt;now&lt;/b&gt;</bdi>' \
        in translation and "<b>now</b>" not in page
    assert re.search(r'id="case-language"><bdi class="untrusted">es</bdi></strong> '
                     r'\(<bdi class="untrusted">Spanish</bdi>\)', page)
    setup.client.get(f"/items/{setup.items['1']}")
    assert len(setup.server.translate_calls()) == 1  # the second view came from the cache
    queue = setup.client.get("/").text
    row = queue.split(f'data-item="{setup.items["1"]}"', 1)[1].split("</tr>", 1)[0]
    assert '<small class="lang"><bdi class="untrusted">es</bdi></small>' in row


def test_a_post_in_the_teams_language_is_not_translated_and_offers_no_translated_reply(setup: Setup) -> None:
    page = _claimed_page(setup, "2")
    assert 'id="translation"' not in page and 'id="translate-reply"' not in page
    assert 'id="case-language"><bdi class="untrusted">en</bdi>' in page
    assert setup.server.translate_calls() == []


@pytest.mark.parametrize("fault", [
    Fault(500, "Cannot translate text: the engine failed"),
    Fault(429, "Slowdown: 10 per 1 minute"),
    Fault(403, "Invalid API key"),
    Fault(500, "Cannot list languages", path="/languages"),
])
def test_a_failing_server_is_a_short_notice_never_an_error_page(setup: Setup, fault: Fault) -> None:
    setup.server.faults.extend([fault] * 5)  # the server keeps failing
    response = setup.client.get(f"/items/{setup.items['1']}")
    assert response.status_code == 200
    notice = response.text.split('id="translation-notice">', 1)[1].split("</p>", 1)[0]
    assert notice.startswith('<bdi class="untrusted">No translation:') and fault.error[:20] in unescape(notice)
    assert "quiero cancelar mi contrato" in response.text and 'id="translation"' not in response.text


def test_a_server_that_is_gone_is_a_notice_too(setup: Setup) -> None:
    setup.server.stop()
    response = setup.client.get(f"/items/{setup.items['1']}")
    assert response.status_code == 200 and "cannot be reached" in response.text
    assert 'id="translation"' not in response.text


def test_the_translator_is_closed_when_the_app_shuts_down(setup: Setup) -> None:
    translator = setup.client.app.state.ctx.translator  # type: ignore[attr-defined]
    assert isinstance(translator, LibreTranslateClient) and not translator.closed
    with setup.client:  # runs the app's lifespan, as uvicorn does for `brandmon serve`
        page = setup.client.get(f"/items/{setup.items['1']}").text
        assert CANCEL_EN in unescape(page)  # the pool was used while the app ran
        assert not translator.closed
    assert translator.closed
    sent = len(setup.server.calls)
    with pytest.raises(TranslationUnavailable, match="the translation client is closed"):
        translator.translate(REPLY, source="en", target="es")
    assert len(setup.server.calls) == sent  # nothing reached the server after shutdown


def test_translation_is_off_without_translation_url(db: Database) -> None:
    seeded = seed_in_languages(db, make_settings(), {"1": (CANCEL, "es")})
    add_user(db, "ana", PASSWORD, role="responder")
    client, _ = _app(db, None)
    login(client, "ana")
    page = client.get(f"/items/{seeded['1'][1]}").text
    assert 'id="translation"' not in page and 'id="translation-notice"' not in page
    assert 'id="translate-reply"' not in page and 'id="case-language"><bdi class="untrusted">es</bdi>' in page


def test_the_saved_replies_offered_are_the_posts_language_variant(setup: Setup) -> None:
    page = _claimed_page(setup)
    assert re.search(r'title="Hola Cliente, te ayudamos a cancelar\. – Kestrel Mobile">'
                     r'<bdi class="untrusted">cancel</bdi> <small class="saved-language">', page)
    filled = setup.client.get(f"/items/{setup.items['1']}?saved=cancel").text
    assert "Hola Cliente, te ayudamos a cancelar. – Kestrel Mobile</textarea>" in filled
    english = _claimed_page(setup, "2")
    assert 'title="Hi Cliente, we can help you cancel. – Kestrel Mobile"' in english


def test_a_reply_is_translated_shown_for_approval_and_queued_with_both_texts(setup: Setup) -> None:
    page = _claimed_page(setup)
    assert re.search(r'<h3>Write in <bdi class="untrusted">English</bdi>, translate to '
                     r'<bdi class="untrusted">Spanish</bdi></h3>', page)
    status, proposed = _propose(setup, page)
    assert status == 200
    assert 'id="proposal-original"><bdi class="untrusted">Sorry to hear that' in proposed
    shown = proposed.split('id="approved-text"', 1)[1].split("</textarea>", 1)[0]
    assert "Envíanos un DM &lt;i&gt;hoy&lt;/i&gt;." in shown  # editable, escaped
    with setup.db.session() as session:  # nothing is queued before approval
        assert session.execute(select(ReplyRow)).first() is None
    edited = REPLY_ES.replace("Envíanos", "Mándanos")
    approved = setup.client.post(f"/items/{setup.items['1']}/translate-reply/approve", data={
        "csrf_token": csrf_of(proposed), "proposal": _token(proposed), "approved_text": edited, **_seen(proposed)})
    assert approved.status_code == 200 and "Reply posted: https://x.com/KestrelMobile/status/9001" in approved.text
    assert setup.source.posted == [("1", edited)]
    with setup.db.session() as session:
        reply = session.execute(select(ReplyRow)).scalar_one()
        detail = session.execute(select(AuditRow.detail).where(AuditRow.action == "reply_queued")).scalar_one()
    assert reply.text == edited and reply.author == "ana"
    assert detail["text"] == edited and detail["translation"] == {
        "original": REPLY, "source": "en", "target": "es", "engine": setup.server.url, "edited": True,
        "machine_text": REPLY_ES}


def test_check_keeps_the_edit_and_counts_it(setup: Setup) -> None:
    _, proposed = _propose(setup, _claimed_page(setup))
    checked = setup.client.post(f"/items/{setup.items['1']}/translate-reply/approve", data={
        "csrf_token": csrf_of(proposed), "proposal": _token(proposed), "approved_text": "Hola " * 80,
        "action": "check", **_seen(proposed)})
    assert checked.status_code == 200 and 'class="check bad" id="translation-check">400 / 280' in checked.text
    with setup.db.session() as session:
        assert session.execute(select(ReplyRow)).first() is None


def test_a_tampered_or_foreign_proposal_is_refused_and_nothing_is_queued(setup: Setup) -> None:
    page = _claimed_page(setup)
    _, proposed = _propose(setup, page)
    token = _token(proposed)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    url = f"/items/{setup.items['1']}/translate-reply/approve"
    data = {"csrf_token": csrf_of(proposed), "approved_text": REPLY_ES, **_seen(proposed)}
    response = setup.client.post(url, data={**data, "proposal": forged})
    assert response.status_code == 400 and "altered or is not from this site" in response.text
    other = setup.client.post(f"/items/{setup.items['2']}/translate-reply/approve", data={**data, "proposal": token})
    assert other.status_code == 400 and "another item or responder" in other.text
    ben = TestClient(setup.client.app, base_url="http://testserver")
    login(ben, "ben")
    ben_page = ben.get(f"/items/{setup.items['1']}").text
    stolen = ben.post(url, data={**data, "csrf_token": csrf_of(ben_page), "proposal": token})
    assert stolen.status_code == 400 and "another item or responder" in stolen.text
    no_csrf = setup.client.post(url, data={**data, "csrf_token": "", "proposal": token})
    assert no_csrf.status_code == 403
    assert setup.client.post(f"/items/{setup.items['1']}/translate-reply",
                             data={"csrf_token": "nope", "text": REPLY}).status_code == 403
    with setup.db.session() as session:
        assert session.execute(select(ReplyRow)).first() is None


def test_a_new_post_after_the_proposal_stops_the_approval_until_it_is_seen(setup: Setup) -> None:
    _, proposed = _propose(setup, _claimed_page(setup))
    seed(setup.db, make_settings(), [post("5", "@KestrelMobile ¿hola? sigo esperando", handle="user1",
                                          parent_id="1", conversation_id="1", minutes_ago=1)])
    url = f"/items/{setup.items['1']}/translate-reply/approve"
    response = setup.client.post(url, data={
        "csrf_token": csrf_of(proposed), "proposal": _token(proposed), "approved_text": REPLY_ES, **_seen(proposed)})
    assert response.status_code == 409 and "sigo esperando" in response.text
    assert REPLY_ES.split(" <i>")[0] in response.text.split('id="approved-text"', 1)[1]  # the proposal is kept
    with setup.db.session() as session:
        assert session.execute(select(ReplyRow)).first() is None
    again = setup.client.post(url, data={  # approved from the page that shows the new post, it goes out
        "csrf_token": csrf_of(response.text), "proposal": _token(response.text), "approved_text": REPLY_ES,
        **_seen(response.text)})
    assert again.status_code == 200 and setup.source.posted == [("5", REPLY_ES)]  # to the newest post of the case


@pytest.mark.parametrize(("text", "status"), [
    ("", 400),  # empty
    ("   ", 400),
    ("a reply nobody wrote a translation for", 503),  # the engine fails (500): a notice
    ("<script>alert(1)</script>\u202e", 503),
    ("x" * 20_001, 400),  # too long for any reply field
    ("nul \x00 inside", 400),
])
def test_no_input_to_the_translate_form_gives_a_500(setup: Setup, text: str, status: int) -> None:
    page = _claimed_page(setup)
    code, body = _propose(setup, page, text)
    assert code == status and "<script>alert" not in body
    if code == 503:
        assert "The reply could not be translated" in body and 'id="translate-text"' in body


@pytest.mark.parametrize("fields", [
    {"proposal": ""},
    {"proposal": "not-a-token"},
    {"proposal": "x" * 70_000},
    {"approved_text": "\x00"},
    {"seen_newest": "-1"},
    {"seen_newest": "99999999999999999999999"},
    {"action": "x" * 40},
])
def test_no_input_to_the_approve_form_gives_a_500(setup: Setup, fields: dict[str, str]) -> None:
    page = _claimed_page(setup)
    _, proposed = _propose(setup, page)
    data = {"csrf_token": csrf_of(proposed), "proposal": _token(proposed), "approved_text": REPLY_ES,
            **_seen(proposed), **fields}
    response = setup.client.post(f"/items/{setup.items['1']}/translate-reply/approve", data=data)
    assert 400 <= response.status_code < 500
    with setup.db.session() as session:
        assert session.execute(select(ReplyRow)).first() is None
