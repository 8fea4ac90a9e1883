"""The terminal shows a brand's own category ("roaming") under its name, as the web queue does: `brandmon queue
list`, `queue show`, `queue claim --next` and the demo's queue table; and the corrections `brandmon train
--corrections` learns from read the model's brand category from the stored model labels, not its "other"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.domain import Batch
from core.settings import Settings, load_settings
from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import MentionRow, QueueItemRow
from models.category_corrections import category_feedback
from monitor.cli import main
from monitor.cli.corrections_cmds import load_corrections, model_category
from monitor.demo.runner import _print_queue
from monitor.pipeline.classify import classify_pending
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.route import route_pending
from monitor.web.auth import add_user
from tests.support.categories import CATEGORIES, OUTAGE, ROAMING, FakeCategories
from tests.support.languages import write_config
from tests.support.queue import BRAND, NOW, Labels, StoredOnlySource, post, seed


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Return a config whose one brand, Kestrel Mobile, has its own category `roaming`."""
    return write_config(tmp_path / "brandmon.yaml", f"sqlite:///{tmp_path / 'q.db'}", brands=[
        {"name": BRAND, "query": "kestrel", "handles": {"x": "KestrelMobile"}, "categories": CATEGORIES}])


@pytest.fixture
def settings(config: Path) -> Settings:
    return load_settings(config)


@pytest.fixture
def db(settings: Settings) -> Database:
    database = Database(settings.database_url)
    database.migrate()
    add_user(database, "ana", "a long enough password", role="responder")
    return database


def _ingest(db: Database, settings: Settings, texts: dict[str, str]) -> dict[str, int]:
    """Store, classify (with `FakeCategories`) and route posts; return external id -> queue item id."""
    mentions = [post(key, text, handle=f"user{key}", minutes_ago=5) for key, text in texts.items()]
    store_batch(db, StoredOnlySource(name="x-kestrel", brand=BRAND, options={}), Batch(tuple(mentions), None),
                now=NOW)
    classify_pending(db, FakeCategories(), settings.sla, now=NOW)
    route_pending(db, settings, now=NOW)
    with db.session() as session:
        return dict(session.execute(select(MentionRow.external_id, QueueItemRow.id)
                                    .join(QueueItemRow, QueueItemRow.mention_id == MentionRow.id)
                                    .where(MentionRow.external_id.in_(list(texts)))).all())


def _run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "-c", str(config), "--as", "ana"])
    assert result.exit_code == 0, result.output
    return result.output


def _row(out: str, item_id: int) -> list[str]:
    """Return the words of the table row for `item_id` (its right-aligned first column, then two spaces)."""
    [row] = [line.split() for line in out.splitlines() if line.lstrip().startswith(f"{item_id}  ")]
    return row


def test_queue_list_shows_a_brand_category_by_name_and_a_built_in_one_as_before(config: Path, settings: Settings,
                                                                               db: Database) -> None:
    items = _ingest(db, settings, {"1": ROAMING, "2": OUTAGE})
    out = _run(config, "queue", "list")
    roaming, outage = _row(out, items["1"]), _row(out, items["2"])
    assert roaming[1:3] == ["high", "roaming"] and "other" not in roaming
    assert outage[1:3] == ["high", "outage"]


def test_queue_list_shows_the_urgency_category_of_an_item_stored_without_a_category(
        config: Path, settings: Settings, db: Database) -> None:
    seeded = seed(db, settings, [post("7", "kestrel billing wrong", handle="bill")],
                  {"7": Labels(urgency_category="billing")})
    item = seeded["7"][1]
    assert item is not None
    with db.session() as session:
        row = session.get(QueueItemRow, item)
        assert row is not None and row.category is None  # as rows from before migration 0011
    assert _row(_run(config, "queue", "list"), item)[1:3] == ["high", "billing"]


def test_queue_show_and_claim_next_say_the_brand_category(config: Path, settings: Settings, db: Database) -> None:
    items = _ingest(db, settings, {"1": ROAMING})
    first = _run(config, "queue", "show", str(items["1"])).splitlines()[0]
    assert first.startswith(f"item {items['1']}: high roaming respond, new"), first
    claimed = _run(config, "queue", "claim", "--next").splitlines()[0]
    assert claimed.startswith(f"item {items['1']}: high roaming, language en"), claimed


def test_a_correction_into_the_brand_category_through_the_cli_shows_in_list_and_show(
        config: Path, settings: Settings, db: Database) -> None:
    items = _ingest(db, settings, {"2": OUTAGE})
    _run(config, "queue", "reclassify", str(items["2"]), "--urgency-category", "roaming")
    assert _row(_run(config, "queue", "list"), items["2"])[1:3] == ["critical", "roaming"]  # at roaming's weight
    assert " roaming respond" in _run(config, "queue", "show", str(items["2"])).splitlines()[0]


def test_the_demo_queue_table_shows_the_brand_category(settings: Settings, db: Database,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    items = _ingest(db, settings, {"1": ROAMING, "2": OUTAGE})
    _print_queue(db, limit=10)
    out = capsys.readouterr().out
    assert _row(out, items["1"])[1:3] == ["high", "roaming"]
    assert _row(out, items["2"])[1:3] == ["high", "outage"]


def test_corrections_read_the_models_brand_category_from_its_stored_labels(config: Path, settings: Settings,
                                                                          db: Database) -> None:
    items = _ingest(db, settings, {"1": ROAMING, "2": OUTAGE})
    _run(config, "queue", "reclassify", str(items["1"]), "--urgency-category", "none")  # not about roaming
    _run(config, "queue", "reclassify", str(items["2"]), "--urgency-category", "roaming")
    with db.session() as session:
        labels: dict[str | None, dict[str, Any]] = {
            row.urgency_category: row.model_labels for row in session.scalars(select(LabelledExampleRow))}
    assert (labels["none"]["urgency_category"], labels["none"]["category"]) == ("other", "roaming")
    assert "category" not in labels["roaming"]  # the model's category was the built-in outage
    corrections = {c.text: c for c in load_corrections(db, BRAND)}
    assert (corrections[ROAMING].model_category, corrections[ROAMING].category) == ("roaming", "none")
    assert (corrections[OUTAGE].model_category, corrections[OUTAGE].category) == ("outage", "roaming")
    # what they teach: the post taken out of roaming is a negative of roaming (read as "other" it would be other's)
    taught = {f.name: f for f in category_feedback(list(corrections.values()))}
    assert set(taught) == {"roaming"}
    assert taught["roaming"].examples == (OUTAGE,) and taught["roaming"].negatives == (ROAMING,)


def test_model_category_prefers_the_brand_category_and_falls_back_to_the_urgency_category() -> None:
    assert model_category({"urgency_category": "other", "category": "roaming"}) == "roaming"
    assert model_category({"urgency_category": "outage"}) == "outage"
    assert model_category({"urgency_category": "outage", "category": None}) == "outage"
    assert model_category({}) is None and model_category(None) is None
