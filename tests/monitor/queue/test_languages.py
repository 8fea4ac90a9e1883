"""Answering in the customer's language: responders' languages, the queue by language, saved-reply variants."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, select

from core.settings import SavedReplySettings
from core.storage import Database
from core.storage.language_tables import SavedReplyVariantRow
from core.storage.schema import AuditRow, ReplyRow
from monitor.cli import main
from monitor.queue.items import claim, count_queue, list_queue
from monitor.queue.languages import (
    LanguageError,
    add_saved_reply_variant,
    choose_text,
    claim_next,
    next_candidates,
    normalise_languages,
    responders_for,
    saved_replies_in,
    set_user_languages,
    user_languages,
    users_with_languages,
)
from monitor.queue.replies import ReplyRefused, add_saved_reply
from monitor.web.auth import add_user
from tests.support.languages import seed_in_languages, write_config
from tests.support.queue import NOW, Labels
from tests.support.settings import make_settings

PASSWORD = "a long enough password"
POSTS = {
    "1": ("kestrel no signal since this morning", "en"),
    "2": ("quiero cancelar mi contrato con kestrel", "es"),
    "3": ("kestrel ne marche plus depuis hier", "fr"),
    "4": ("el reembolso lo quiero ya, kestrel", "es"),
}
#: Post 1 is the most urgent; the Spanish ones are less so.
LABELS = {"1": Labels(level="critical", urgency_score=0.95), "2": Labels(level="normal", urgency_score=0.3),
          "3": Labels(level="high"), "4": Labels(level="normal", urgency_score=0.3)}


@pytest.fixture
def queued(db: Database) -> dict[str, tuple[int, int | None]]:
    """Four queued posts in English, Spanish and French, and three responders."""
    seeded = seed_in_languages(db, make_settings(), POSTS, LABELS)
    for name in ("ana", "ben", "chloe"):
        add_user(db, name, PASSWORD)
    return seeded


def item(seeded: dict[str, tuple[int, int | None]], external_id: str) -> int:
    found = seeded[external_id][1]
    assert found is not None, f"post {external_id} was not queued"
    return found


def test_language_codes_are_normalised_and_bad_ones_refused() -> None:
    assert normalise_languages("es, FR,es,pt-BR, ") == ("es", "fr", "pt")
    assert normalise_languages(["de", "zh_Hans"]) == ("de", "zh")
    assert normalise_languages("") == ()
    for bad in ("spanish", "e", "es;fr", "1a"):
        with pytest.raises(LanguageError, match="not a language code"):
            normalise_languages(bad)


def test_responders_keep_their_languages_on_both_backends(db: Database,
                                                          queued: dict[str, tuple[int, int | None]]) -> None:
    assert set_user_languages(db, "ana", "es,fr", actor="admin", now=NOW) == ("es", "fr")
    set_user_languages(db, "ben", ["en"], actor="admin", now=NOW)
    assert user_languages(db, "ana") == ("es", "fr")
    assert responders_for(db, "ES") == ["ana"]
    set_user_languages(db, "ana", "fr", actor="admin", now=NOW)  # replaces, never adds to
    assert user_languages(db, "ana") == ("fr",) and responders_for(db, "es") == []
    assert [(u.username, langs) for u, langs in users_with_languages(db)] == [
        ("ana", ("fr",)), ("ben", ("en",)), ("chloe", ())]
    with pytest.raises(LanguageError, match="no user"):
        set_user_languages(db, "nobody", "es", actor="admin")
    with db.session() as session:
        changes = session.execute(select(AuditRow.detail).where(AuditRow.action == "user_languages_set")
                                  .order_by(AuditRow.id)).scalars().all()
    assert changes[-1] == {"username": "ana", "before": ["es", "fr"], "after": ["fr"]}


def test_the_queue_lists_and_counts_by_language(db: Database, queued: dict[str, tuple[int, int | None]]) -> None:
    spanish = list_queue(db, language="es")
    assert sorted(e.mention.external_id for e in spanish) == ["2", "4"]
    assert count_queue(db, language="es") == 2 and count_queue(db, language="de") == 0
    assert count_queue(db) == 4 and count_queue(db, language="FR") == 1


def test_claim_next_offers_a_responders_languages_first(db: Database,
                                                        queued: dict[str, tuple[int, int | None]]) -> None:
    set_user_languages(db, "ana", "es", actor="admin")
    in_order = [e.item.id for e in list_queue(db)]
    assert [e.item.id for e in next_candidates(db, "chloe", (), now=NOW)] == in_order  # no languages: queue order
    assert [e.item.id for e in next_candidates(db, "ana", ("es",), now=NOW)] == [
        item(queued, "2"), item(queued, "4"), item(queued, "1"), item(queued, "3")]
    first = claim_next(db, "ana", now=NOW)
    assert first is not None and first.in_their_language and first.language == "es"
    assert first.entry.item.id == item(queued, "2") and first.entry.item.claimed_by == "ana"
    # someone else holds post 4: ana's next Spanish one is gone, so the most urgent of the rest comes next
    claim(db, item(queued, "4"), "ben", now=NOW)
    after = claim_next(db, "ana", now=NOW)
    assert after is not None and not after.in_their_language and after.entry.item.id == item(queued, "1")
    assert claim_next(db, "ana", now=NOW, only_their_languages=True) is None
    # no languages in the profile: plain queue order
    plain = claim_next(db, "chloe", now=NOW)
    assert plain is not None and plain.entry.item.id == item(queued, "3")
    with pytest.raises(LanguageError, match="no languages"):
        claim_next(db, "chloe", now=NOW, only_their_languages=True)


def test_a_saved_reply_is_chosen_in_the_posts_language_then_the_brands_then_its_main_text() -> None:
    variants = {"es": "Hola {first_name}", "en": "Hi {first_name}"}
    assert choose_text("main", variants, language="es", default_language="en") == ("Hola {first_name}", "es")
    assert choose_text("main", variants, language="de", default_language="en") == ("Hi {first_name}", "en")
    assert choose_text("main", {"es": "Hola"}, language="de", default_language="en") == ("main", None)
    assert choose_text("main", {"es": "Hola"}, language=None, default_language="es") == ("Hola", "es")


def test_saved_reply_variants_from_the_config_file_and_the_database(db: Database,
                                                                    queued: dict[str, tuple[int, int | None]]) -> None:
    configured = [SavedReplySettings(
        name="outage", text="Hi {first_name}, engineers are on it. – {brand}", kind="respond",
        variants={"fr": "Bonjour {first_name}, on s'en occupe. – {brand}"})]
    add_saved_reply(db, name="refund", text="Hi {first_name}, your refund is on its way.", actor="ana")
    assert add_saved_reply_variant(db, configured, name="refund", language="es", actor="ana",
                                   text="Hola {first_name}, tu reembolso está en camino. – {brand}") is False
    assert add_saved_reply_variant(db, configured, name="outage", language="ES",
                                   text="Hola {first_name}, ya estamos en ello. – {brand}", actor="ana") is False
    assert add_saved_reply_variant(db, configured, name="outage", language="es",
                                   text="Hola {first_name}, lo estamos arreglando. – {brand}", actor="ben") is True
    with pytest.raises(ReplyRefused, match="config file"):
        add_saved_reply_variant(db, configured, name="outage", language="fr", text="Salut", actor="ana")
    with pytest.raises(ReplyRefused, match="no saved reply called 'nope'"):
        add_saved_reply_variant(db, configured, name="nope", language="es", text="Hola", actor="ana")
    with pytest.raises(ReplyRefused, match="unknown variable"):
        add_saved_reply_variant(db, configured, name="refund", language="de", text="Hallo {vorname}", actor="ana")

    def offered(language: str | None, default: str = "en") -> dict[str, tuple[str, str | None]]:
        return {s.name: (s.text, s.language) for s in saved_replies_in(
            db, configured, network="x", kind="respond", brand="Kestrel Mobile", language=language,
            default_language=default)}

    assert offered("es") == {"outage": ("Hola {first_name}, lo estamos arreglando. – {brand}", "es"),
                             "refund": ("Hola {first_name}, tu reembolso está en camino. – {brand}", "es")}
    assert offered("fr")["outage"] == ("Bonjour {first_name}, on s'en occupe. – {brand}", "fr")
    assert offered("fr")["refund"] == ("Hi {first_name}, your refund is on its way.", None)  # no fr: main text
    assert offered("de", default="es")["refund"][1] == "es"  # no de: the brand's language
    with db.session() as session:
        assert session.execute(select(SavedReplyVariantRow.created_by).where(
            SavedReplyVariantRow.name == "outage")).scalar_one() == "ben"


def test_the_language_tables_migrate_up_and_down_on_both_backends(db: Database) -> None:
    tables = set(db.table_names())
    assert {"user_languages", "saved_reply_variants", "translations"} <= tables and db.is_current()
    add_user(db, "ana", PASSWORD)
    set_user_languages(db, "ana", "es", actor="admin")
    config = db._alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009_live_cases")
    assert not {"user_languages", "saved_reply_variants", "translations"} & set(inspect(db.engine).get_table_names())
    assert not db.is_current()
    db.migrate()
    assert db.is_current() and user_languages(db, "ana") == ()
    columns = {c["name"] for c in inspect(db.engine).get_columns("translations")}
    assert columns == {"id", "mention_id", "source", "target", "text", "engine", "created_at"}
    set_user_languages(db, "ana", "de", actor="admin")
    assert user_languages(db, "ana") == ("de",)


# -- the command line ---------------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path) -> tuple[Path, Database, dict[str, tuple[int, int | None]]]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = write_config(tmp_path / "brandmon.yaml", url, queue={"saved_replies": [
        {"name": "outage", "text": "Hi {first_name}, engineers are on it. – {brand}", "kind": "respond",
         "variants": {"es": "Hola {first_name}, nuestro equipo ya está en ello. – {brand}"}},
        {"name": "thanks", "text": "Thank you {first_name}!", "kind": "thank",
         "variants": {"es": "¡Gracias {first_name}!"}},
    ]})
    db = Database(url)
    db.migrate()
    return config, db, seed_in_languages(db, make_settings(), POSTS, LABELS)


def run(config: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(config)], input=input)
    return result.exit_code, result.output


def test_users_add_list_and_change_languages(cli: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, _ = cli
    code, out = run(config, "users", "add", "ana", "--languages", "es,FR", "--password-stdin", input=PASSWORD + "\n")
    assert code == 0 and "answering in es, fr" in out
    code, out = run(config, "users", "add", "ben", "--password-stdin", input=PASSWORD + "\n")
    assert code == 0
    code, out = run(config, "users", "add", "cid", "--languages", "spanish", "--password-stdin", input=PASSWORD)
    assert code == 2 and "not a language code" in out
    code, out = run(config, "users", "languages", "ben", "de")
    assert code == 0 and "ben answers in de" in out
    code, out = run(config, "users", "list")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert code == 0 and rows == {"ana": "es,fr", "ben": "de"}
    code, out = run(config, "users", "languages", "ben", "")
    assert code == 0 and "no language set" in out and user_languages(db, "ben") == ()
    code, out = run(config, "users", "languages", "zoe", "es")
    assert code == 2 and "no user 'zoe'" in out


def test_queue_list_by_language_and_claim_next(cli: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, seeded = cli
    add_user(db, "ana", PASSWORD)
    set_user_languages(db, "ana", "es", actor="admin")
    code, out = run(config, "queue", "list", "--language", "ES", "--as", "ana")
    assert code == 0 and "2 items open, showing 2" in out
    assert "quiero cancelar" in out and "no signal" not in out and " es " in out
    code, out = run(config, "queue", "claim", "--next", "--as", "ana")
    assert code == 0 and f"item {item(seeded, '2')}: normal outage, language es" in out and "is yours" in out
    code, out = run(config, "queue", "claim", "--next", "--as", "ana")
    assert code == 0 and f"item {item(seeded, '4')}:" in out
    code, out = run(config, "queue", "claim", "--next", "--only-my-languages", "--as", "ana")
    assert code == 2 and "nothing left to claim in your languages" in out
    code, out = run(config, "queue", "claim", "--as", "ana")
    assert code == 2 and "give an item id or --next" in out


def test_saved_replies_cli_and_replies_in_the_posts_language(
        cli: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, seeded = cli
    add_user(db, "ana", PASSWORD)
    code, out = run(config, "replies", "add", "refund", "Hi {first_name}, your refund is on its way.")
    assert code == 0 and "saved reply 'refund' added" in out
    code, out = run(config, "replies", "add", "refund", "--lang", "es", "Hola {first_name}, tu reembolso llega ya.")
    assert code == 0 and "es text added" in out
    code, out = run(config, "replies", "add", "refund", "Again")
    assert code == 2 and "already exists" in out
    code, out = run(config, "replies", "add", "outage", "--lang", "es", "Hola")
    assert code == 2 and "config file" in out
    code, out = run(config, "replies", "list")
    assert code == 0 and "refund (database)" in out and "  es: Hola {first_name}, tu reembolso" in out
    assert "3 saved replies" in out
    spanish = item(seeded, "2")
    code, out = run(config, "queue", "show", str(spanish), "--as", "ana")
    assert code == 0 and "language es" in out
    assert "saved reply 'outage' (es): Hola {first_name}, nuestro equipo" in out
    run(config, "queue", "claim", str(spanish), "--as", "ana")
    code, out = run(config, "queue", "reply", str(spanish), "--saved", "refund", "--queue-only", "--as", "ana")
    assert code == 0 and "queued" in out
    with db.session() as session:
        assert session.execute(select(ReplyRow.text)).scalar_one() == "Hola Cliente, tu reembolso llega ya."
    run(config, "queue", "show", str(item(seeded, "4")), "--as", "ana")
    code, out = run(config, "queue", "thank", str(item(seeded, "4")), "--queue-only", "--as", "ana")
    assert code == 0
    with db.session() as session:
        texts = session.execute(select(ReplyRow.text).order_by(ReplyRow.id)).scalars().all()
    assert texts[-1] == "¡Gracias Cliente!"
