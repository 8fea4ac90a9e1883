"""The optional translation path, against a loopback server with the LibreTranslate HTTP API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import select

from core.redact import redact, registered_secrets
from core.settings import ConfigError, Secrets
from core.storage import Database
from core.storage.language_tables import TranslationRow
from core.storage.schema import AuditRow, MentionRow, ReplyRow
from monitor.cli import main
from monitor.queue.context import mark_seen
from monitor.queue.items import claim
from monitor.queue.translate import (
    LibreTranslateClient,
    SameLanguage,
    TranslationError,
    TranslationRateLimited,
    TranslationRefused,
    TranslationUnavailable,
    propose_reply_translation,
    queue_translated_reply,
    translate_post,
    translator_for,
)
from monitor.web.auth import add_user
from tests.support.clock import Clock
from tests.support.languages import seed_in_languages, write_config
from tests.support.libretranslate import MISSING_KEY, Fault, LibreTranslateLoopback
from tests.support.queue import NOW
from tests.support.settings import make_settings

CANCEL = "quiero cancelar mi contrato con kestrel"
REFUND = "el reembolso lo quiero ya, kestrel"
REPLY = "Sorry to hear that, we can help you cancel. Please send us a DM."
REPLY_ES = "Lamentamos oírlo, podemos ayudarte a cancelar. Envíanos un DM."
GLOSSARY = {
    ("es", "en"): {CANCEL: "I want to cancel my contract with kestrel", REFUND: "I want the refund now, kestrel"},
    ("en", "es"): {REPLY: REPLY_ES},
    ("fr", "en"): {"kestrel ne marche plus": "kestrel does not work any more"},
    ("zh-Hans", "en"): {"kestrel 没有信号": "kestrel has no signal"},
}
KEY = "lt-key-5d1f9a0c"


@pytest.fixture
def server() -> Iterator[LibreTranslateLoopback]:
    with LibreTranslateLoopback(GLOSSARY) as loopback:
        yield loopback


def client_for(server: LibreTranslateLoopback, **kw: object) -> LibreTranslateClient:
    return LibreTranslateClient(server.url, **kw)  # type: ignore[arg-type]


# -- the client ---------------------------------------------------------------------------------------------

def test_the_client_lists_languages_and_translates_as_the_api_says(server: LibreTranslateLoopback) -> None:
    with client_for(server) as client:
        languages = client.languages()
        assert {lang.code for lang in languages} >= {"en", "es", "fr", "de", "zh-Hans"}
        assert "en" in next(lang for lang in languages if lang.code == "es").targets
        assert client.server_code("zh") == "zh-Hans" and client.server_code("es") == "es"
        assert client.server_code("ko") is None
        done = client.translate(CANCEL, source="es", target="en")
        assert (done.text, done.source, done.target) == ("I want to cancel my contract with kestrel", "es", "en")
        detected = client.translate("kestrel ne marche plus", source="auto", target="en")
        assert detected.source == "fr" and detected.confidence == 90.0
    calls = server.translate_calls()
    assert calls[0] == {"q": CANCEL, "source": "es", "target": "en", "format": "text"}  # no api_key when none is set
    assert [m for m, path, _ in server.calls if path == "/languages"] == ["GET"]  # asked once per client


def test_the_api_key_is_sent_in_the_body_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with LibreTranslateLoopback(GLOSSARY, api_keys={KEY}, require_api_key=True) as server:
        with client_for(server, api_key=SecretStr(KEY)) as client:
            assert client.translate(CANCEL, source="es", target="en").text.startswith("I want to cancel")
            assert KEY not in str(client.redacted())
        assert server.translate_calls()[-1]["api_key"] == KEY
        with client_for(server, api_key=SecretStr("lt-key-wrong000")) as client, \
                pytest.raises(TranslationRefused, match="Invalid API key") as refused:
            client.translate(CANCEL, source="es", target="en")
        assert refused.value.status == 403
        with client_for(server) as client, pytest.raises(TranslationRefused, match=MISSING_KEY) as missing:
            client.translate(CANCEL, source="es", target="en")
        assert missing.value.status == 400
    assert caplog.records and KEY not in caplog.text
    secrets = Secrets.from_env({"BRANDMON_TRANSLATION_API_KEY": KEY})
    assert secrets.translation_api_key is not None and KEY in registered_secrets()
    assert KEY not in redact(f"posting q=hola api_key={KEY}")


def test_the_key_never_travels_over_plain_http_to_another_machine() -> None:
    with pytest.raises(TranslationError, match="unencrypted"):
        LibreTranslateClient("http://translate.example.com/", api_key=SecretStr(KEY))
    LibreTranslateClient("https://translate.example.com/", api_key=SecretStr(KEY)).close()
    LibreTranslateClient("http://translate.example.com/").close()  # no key: nothing secret travels


def test_a_429_stops_every_call_until_the_retry_time(server: LibreTranslateLoopback) -> None:
    clock = Clock(NOW)
    server.requests_per_minute = 1
    with client_for(server, clock=clock, rate_limit_wait_s=120) as client:
        client.translate(CANCEL, source="es", target="en")
        with pytest.raises(TranslationRateLimited, match="Slowdown: 1 per 1 minute") as limited:
            client.translate(REFUND, source="es", target="en")
        assert limited.value.retry_at == NOW + timedelta(seconds=120)  # no Retry-After: the configured wait
        sent = len(server.translate_calls())
        clock.advance(seconds=60)
        with pytest.raises(TranslationRateLimited):
            client.translate(REFUND, source="es", target="en")
        assert len(server.translate_calls()) == sent  # nothing reached the server meanwhile
        server.requests_per_minute = -1
        clock.advance(seconds=61)
        assert client.translate(REFUND, source="es", target="en").text == "I want the refund now, kestrel"


def test_a_retry_after_header_is_honoured() -> None:
    clock = Clock(NOW)
    with LibreTranslateLoopback(GLOSSARY, requests_per_minute=0, retry_after_header=True) as server, \
            client_for(server, clock=clock) as client, pytest.raises(TranslationRateLimited) as limited:
        client.translate(CANCEL, source="es", target="en")
    assert limited.value.retry_at == NOW + timedelta(seconds=30)


def test_server_failures_are_told_apart(server: LibreTranslateLoopback) -> None:
    with client_for(server, timeout_s=0.3) as client:
        server.faults.append(Fault(500, "Cannot translate text: out of memory"))
        with pytest.raises(TranslationUnavailable, match="out of memory"):
            client.translate(CANCEL, source="es", target="en")
        with pytest.raises(TranslationRefused, match="ko is not supported"):
            client.translate(CANCEL, source="ko", target="en")
        with pytest.raises(TranslationRefused, match="xml format is not supported"):
            client.translate(CANCEL, source="es", target="en", text_format="xml")
        with pytest.raises(TranslationUnavailable, match="no es->en translation"):  # the engine has no entry
            client.translate("algo que nadie tradujo", source="es", target="en")
        server.delay_s = 5.0
        with pytest.raises(TranslationUnavailable, match="did not answer in time"):
            client.translate(CANCEL, source="es", target="en")
    dead = LibreTranslateLoopback(GLOSSARY).start()
    dead.stop()
    with client_for(dead) as client, pytest.raises(TranslationUnavailable, match="cannot be reached"):
        client.languages()


# -- posts and replies --------------------------------------------------------------------------------------

POSTS = {"1": (CANCEL, "es"), "2": ("kestrel no signal since this morning", "en"),
         "3": ("kestrel ne marche plus", None), "4": ("kestrel 没有信号", "zh")}


@pytest.fixture
def queued(db: Database) -> dict[str, tuple[int, int | None]]:
    return seed_in_languages(db, make_settings(), POSTS)


def test_a_post_is_translated_beside_the_original_once_per_target(
        db: Database, server: LibreTranslateLoopback, queued: dict[str, tuple[int, int | None]]) -> None:
    spanish, english, unknown, chinese = (queued[k][0] for k in ("1", "2", "3", "4"))
    with client_for(server) as client:
        first = translate_post(db, client, spanish, target="en", now=NOW)
        again = translate_post(db, client, spanish, target="en", now=NOW)
        assert (first.original, first.text, first.source, first.cached) == (
            CANCEL, "I want to cancel my contract with kestrel", "es", False)
        assert again.cached and again.text == first.text
        assert len(server.translate_calls()) == 1  # the second came from the cache
        detected = translate_post(db, client, unknown, target="en", now=NOW)
        assert detected.source == "fr" and server.translate_calls()[-1]["source"] == "auto"
        assert translate_post(db, client, chinese, target="en", now=NOW).text == "kestrel has no signal"
        assert server.translate_calls()[-1]["source"] == "zh-Hans"
        with pytest.raises(SameLanguage, match="already in en"):
            translate_post(db, client, english, target="en", now=NOW)
        with pytest.raises(TranslationRefused, match="does not translate into ko"):
            translate_post(db, client, spanish, target="ko", now=NOW)
    with db.session() as session:
        assert session.get(MentionRow, spanish).text == CANCEL  # never instead of the original
        rows = session.execute(select(TranslationRow.mention_id, TranslationRow.source, TranslationRow.engine)
                               .order_by(TranslationRow.id)).all()
    assert [(r.mention_id, r.source) for r in rows] == [(spanish, "es"), (unknown, "fr"), (chinese, "zh")]  # our codes
    assert {r.engine for r in rows} == {server.url}


def test_a_translated_reply_is_approved_then_queued_with_both_texts_audited(
        db: Database, server: LibreTranslateLoopback, queued: dict[str, tuple[int, int | None]]) -> None:
    mention_id, item_id = queued["1"]
    assert item_id is not None
    add_user(db, "ana", "a long enough password")
    claim(db, item_id, "ana", now=NOW)
    mark_seen(db, item_id, mention_id, "ana", now=NOW)
    with client_for(server) as client:
        proposal = propose_reply_translation(db, client, item_id, REPLY, source="en")
        with pytest.raises(SameLanguage, match="send it as it is"):
            propose_reply_translation(db, client, item_id, REPLY, source="es")
    assert (proposal.original, proposal.text, proposal.target, proposal.check.ok) == (REPLY, REPLY_ES, "es", True)
    with db.session() as session:  # nothing is queued before approval
        assert session.execute(select(ReplyRow)).first() is None
    edited = REPLY_ES.replace("Envíanos", "Mándanos")
    reply = queue_translated_reply(db, "ana", proposal, approved_text=edited, now=NOW)
    with db.session() as session:
        stored = session.get(ReplyRow, reply.id)
        detail = session.execute(select(AuditRow.detail).where(AuditRow.action == "reply_queued")).scalar_one()
    assert stored is not None and stored.text == edited
    assert detail["text"] == edited and detail["translation"] == {
        "original": REPLY, "source": "en", "target": "es", "engine": server.url, "edited": True,
        "machine_text": REPLY_ES}


# -- settings and the command line --------------------------------------------------------------------------

def test_translation_is_off_by_default_and_its_key_never_in_a_config_file() -> None:
    settings = make_settings()
    assert not settings.translation.enabled and translator_for(settings, Secrets()) is None
    on = make_settings(translation={"url": "https://translate.example.com"})
    assert on.translation.url == "https://translate.example.com/"
    with pytest.raises(ConfigError, match=r"translation\.api_key: secrets are never stored in config files"):
        make_settings(translation={"url": "https://translate.example.com", "api_key": KEY})
    with pytest.raises(ConfigError, match=r"translation\.url"):
        make_settings(translation={"url": "ftp://translate.example.com"})


@pytest.fixture
def cli(tmp_path: Path, server: LibreTranslateLoopback) -> tuple[Path, Database, dict[str, tuple[int, int | None]]]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = write_config(tmp_path / "brandmon.yaml", url, translation={"url": server.url})
    db = Database(url)
    db.migrate()
    add_user(db, "ana", "a long enough password")
    return config, db, seed_in_languages(db, make_settings(), POSTS)


def run(config: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(config)], input=input)
    return result.exit_code, result.output


def test_queue_translate_shows_the_translation_beside_the_original(
        cli: tuple[Path, Database, dict[str, tuple[int, int | None]]], server: LibreTranslateLoopback,
        tmp_path: Path) -> None:
    config, _, seeded = cli
    item_id = seeded["1"][1]
    code, out = run(config, "queue", "translate", str(item_id))
    assert code == 0 and f"  {CANCEL}\ntranslated into en:\n  I want to cancel my contract with kestrel" in out
    code, out = run(config, "queue", "translate", str(item_id))
    assert code == 0 and "(kept from before)" in out and len(server.translate_calls()) == 1
    code, out = run(config, "queue", "translate", str(seeded["2"][1]))
    assert code == 2 and "already in en" in out
    off = write_config(tmp_path / "off.yaml", f"sqlite:///{tmp_path / 'q.db'}")
    code, out = run(off, "queue", "translate", str(item_id))
    assert code == 2 and "translation is off" in out


def test_queue_reply_translate_asks_before_posting(
        cli: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, seeded = cli
    item_id = str(seeded["1"][1])
    run(config, "queue", "claim", item_id, "--as", "ana")
    run(config, "queue", "show", item_id, "--as", "ana")
    code, out = run(config, "queue", "reply", item_id, "--translate", REPLY, "--queue-only", "--as", "ana", input="n\n")
    assert code == 2 and f"your reply (en):\n  {REPLY}" in out and f"  {REPLY_ES}" in out and "not sent" in out
    with db.session() as session:
        assert session.execute(select(ReplyRow)).first() is None
    code, out = run(config, "queue", "reply", item_id, "--translate", REPLY, "--queue-only", "--as", "ana", input="y\n")
    assert code == 0 and "Post the es text to @user1?" in out and "queued" in out
    with db.session() as session:
        assert session.execute(select(ReplyRow.text)).scalar_one() == REPLY_ES
        detail = session.execute(select(AuditRow.detail).where(AuditRow.action == "reply_queued")).scalar_one()
    assert detail["text"] == REPLY_ES and detail["translation"]["original"] == REPLY
    english = str(seeded["2"][1])
    run(config, "queue", "claim", english, "--as", "ana")
    run(config, "queue", "show", english, "--as", "ana")
    code, out = run(config, "queue", "reply", english, "--translate", REPLY, "--yes", "--as", "ana")
    assert code == 2 and "send it as it is" in out
    code, out = run(config, "queue", "reply", english, "--translate", REPLY, "--text", "x", "--as", "ana")
    assert code == 2 and "exactly one of --text, --saved and --translate" in out
