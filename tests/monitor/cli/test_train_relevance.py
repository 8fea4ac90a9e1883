"""`brandmon train --relevance` and `brandmon sources`: a filter learned from clicks, kept, shown, applied."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from core.domain import Batch
from core.settings import load_settings
from core.storage import Database
from core.storage.schema import QueueItemRow
from models.relevance import load_filter, relevance_file
from monitor.cli import main
from monitor.pipeline import Pipeline, build_classifier
from monitor.pipeline.ingest import store_batch
from tests.support.queue import BRAND, NOW, StoredOnlySource, post
from tests.support.relevance import NAMESAKE, seed_clicks, texts


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'brandmon.db'}",
        "brands": [{"name": BRAND, "query": "kestrel"}, {"name": "Orbital Telecom", "query": "orbital", "own": False}],
        "classifier": {"kind": "transformer", "data_dir": str(tmp_path / "data")},
        "slack": {"base_url": "loopback", "routes": [{"name": "complaints", "channel": "#care", "complaint": True}]},
    }), encoding="utf-8")
    return path


def _seed(config: Path, relevant: int, not_relevant: int) -> None:
    settings = load_settings(config)
    db = Database(settings.database_url)
    db.migrate()
    seed_clicks(db, settings, relevant=relevant, not_relevant=not_relevant, now=NOW)
    db.dispose()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_filter_is_kept_shown_in_sources_and_hides_a_namesake(config: Path) -> None:
    _seed(config, 30, 30)
    code, out, err = _run("train", "--relevance", "-c", str(config))
    assert code == 0, err
    settings = load_settings(config)
    path = relevance_file(settings.classifier.data_dir, BRAND)
    meta = load_filter(path).meta
    assert f"{BRAND}: 30 not-relevant clicks, 30 handled posts; held out 8 + 8: precision" in out
    assert f"saved {path}" in out and meta.clicks == 60 and meta.precision >= 0.9
    assert f"{BRAND}: encoding 60 posts" in err  # the progress bar, on stderr
    code, out, _ = _run("sources", "-c", str(config))
    assert code == 0
    assert (f"{BRAND}: relevance filter trained {datetime.fromisoformat(meta.created_at):%Y-%m-%d %H:%M}Z on 60 "
            f"clicks (30 not relevant), held-out precision {meta.precision:.3f}") in out
    assert "0 posts filtered since" in out
    # a new namesake post, routed by the classifier the pipeline builds (it loads the kept filter)
    now = datetime.now(UTC)
    db = Database(settings.database_url)
    pipeline = Pipeline(settings, db, classifier=build_classifier(settings), sources={}, notifiers={})
    bird = dataclasses.replace(post("new-bird", texts(NAMESAKE, 1, start=900)[0], handle="newbirder"),
                               created_at=now)
    store_batch(db, StoredOnlySource(name="x-kestrel", brand=BRAND, options={}), Batch((bird,), None), now=now)
    pipeline.clock = lambda: now
    assert pipeline.classify() == 1 and pipeline.route() == 1
    with db.session() as session:
        statuses = session.execute(select(QueueItemRow.status).order_by(QueueItemRow.id.desc()).limit(1)).scalars()
        assert list(statuses) == ["not_relevant"]
    db.dispose()
    _, out, _ = _run("sources", "-c", str(config))
    assert "1 posts filtered since" in out


def test_too_few_clicks_are_refused_and_no_filter_is_kept(config: Path) -> None:
    _seed(config, 12, 6)
    code, _, err = _run("train", "--relevance", "-c", str(config))
    assert code == 1
    assert f"refused: {BRAND}: 6 not-relevant clicks, 12 handled posts" in err and "no filter is kept" in err
    settings = load_settings(config)
    assert not relevance_file(settings.classifier.data_dir, BRAND).exists()
    _, out, _ = _run("sources", "-c", str(config))
    assert f"{BRAND}: no relevance filter" in out


def test_relevance_does_not_go_with_corrections_options(config: Path) -> None:
    code, _, err = _run("train", "--relevance", "--corrections", "-c", str(config))
    assert code == 2 and "does not go with --relevance" in err
