"""Issue 17, the audit half: TRUNCATE refused, the CLI acts only as real users, claims protect reclassification,
and `digest --out x.json` cannot overwrite its own figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from core.storage import Database
from core.storage.schema import AuditRow, ClassificationRow
from monitor.cli import main
from monitor.queue.items import QueueConflict, claim
from monitor.queue.reclassify import reclassify
from monitor.web.auth import add_user
from tests.support.queue import NOW, post, seed
from tests.support.settings import make_settings
from tests.support.web import csrf_of, login, web_setup


def test_postgres_refuses_truncate_of_the_audit_log(postgres_url: str) -> None:
    db = Database(postgres_url)
    db.migrate()
    try:
        add_user(db, "ana", "a long enough password")  # writes one audit row
        with pytest.raises(DBAPIError, match="cannot be truncated"), db.engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_log CASCADE"))
        with db.session() as session:
            assert session.execute(select(func.count()).select_from(AuditRow)).scalar() == 1
    finally:
        db.dispose()


def test_a_responder_cannot_reclassify_an_item_another_responder_holds(db: Database) -> None:
    settings = make_settings()
    seeded = seed(db, settings, [post("1", "kestrel no signal")])
    mention_id, item_id = seeded["1"]
    assert item_id is not None
    claim(db, item_id, "ana", now=NOW)
    with pytest.raises(QueueConflict, match="claimed by ana"):
        reclassify(db, mention_id, "ben", sla=settings.sla, sentiment="positive", now=NOW)
    with db.session() as session:
        assert session.get(ClassificationRow, mention_id).sentiment == "negative"  # type: ignore[union-attr]
    reclassify(db, mention_id, "ana", sla=settings.sla, sentiment="neutral", now=NOW)  # the holder may
    reclassify(db, mention_id, "root", sla=settings.sla, sentiment="positive", now=NOW, force=True)  # an admin may


def test_the_web_page_refuses_a_reclassification_of_someone_elses_claim(sqlite_db: Database) -> None:
    setup = web_setup(sqlite_db)
    item = setup.items["200"]
    claim(setup.db, item, "root", now=NOW)
    client = TestClient(setup.app)
    login(client, "ana")
    page = client.post(f"/items/{item}/reclassify", data={"csrf_token": csrf_of(client.get("/").text),
                                                          "sentiment": "positive"})
    assert "only they can reclassify it" in page.text
    with setup.db.session() as session:
        assert session.execute(select(AuditRow).where(AuditRow.action == "reclassified")).first() is None


def _queue_config(tmp_path: Path) -> tuple[Path, Database, int]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = tmp_path / "brandmon.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": url, "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "x-kestrel", "type": "replay", "brand": "Kestrel Mobile",
                     "options": {"path": str(tmp_path / "none.jsonl")}}],
        "slack": {"enabled": False}}), encoding="utf-8")
    db = Database(url)
    db.migrate()
    item = seed(db, make_settings(), [post("1", "kestrel billing wrong")])["1"][1]
    assert item is not None
    add_user(db, "ana", "a long enough password")
    return config, db, item


def test_the_cli_acts_only_as_an_existing_user(tmp_path: Path) -> None:
    config, db, item = _queue_config(tmp_path)
    invented = CliRunner().invoke(main, ["queue", "claim", str(item), "-c", str(config), "--as", "ceo"])
    assert invented.exit_code == 2 and "'ceo' is not an active brandmon user" in invented.output
    with db.session() as session:
        assert session.execute(select(AuditRow.actor).where(AuditRow.actor == "ceo")).first() is None
    real = CliRunner().invoke(main, ["queue", "claim", str(item), "-c", str(config), "--as", "ana"])
    assert real.exit_code == 0, real.output
    db.dispose()


def test_digest_refuses_an_out_path_that_would_overwrite_its_own_json(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'd.db'}"
    Database(url).migrate()
    out = tmp_path / "x.json"
    result = CliRunner().invoke(main, ["digest", "--database-url", url, "--brand", "Kestrel Mobile", "--no-slack",
                                       "--themes", "tfidf", "--out", str(out)])
    assert result.exit_code == 2 and "must not end in .json" in result.output
    assert not out.exists()
