"""`brandmon train --corrections`: per-brand heads from stored corrections, kept only when they do not score worse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.settings import load_settings
from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow
from models.corrections import brand_heads_file, split_held_out
from models.transformer import TransformerClassifier
from monitor.cli import main
from monitor.pipeline import build_classifier
from monitor.queue.items import set_status
from tests.support.corrections import SLANG
from tests.support.queue import BRAND, NOW, post, seed
from tests.support.streams import write_config


def store_corrections(config: Path, count: int, *, held_as_model_says: set[int] | None = None,
                      brand: str = "Acme") -> None:
    """Store `count` reclassifications of `brand`'s slang posts as the reply queue stores them."""
    db = Database(load_settings(config).database_url)
    db.migrate()
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with db.session() as session:
        for n in range(1, count + 1):
            as_model = held_as_model_says is not None and n in held_as_model_says
            session.add(LabelledExampleRow(
                mention_id=None, brand=brand, network="x", language="en", text=SLANG.format(n=n),
                sentiment="negative" if as_model else "positive", complaint=as_model, urgency_category="none",
                model_labels={"sentiment": "negative", "complaint": True, "urgency_category": "other"},
                origin="queue", actor="amira", created_at=now))
    db.dispose()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "brandmon.yaml", extra={})


def _transformer(config: Path) -> Path:
    config.write_text(config.read_text(encoding="utf-8").replace("kind: lexicon", "kind: transformer"),
                      encoding="utf-8")
    return config


def _train(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["train", "--corrections", "-c", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def test_accepted_heads_are_saved_and_loaded_for_the_brand(config: Path) -> None:
    _transformer(config)
    store_corrections(config, 24)
    code, out, err = _train(config)
    assert code == 0, err
    settings = load_settings(config)
    path = brand_heads_file(settings.classifier.data_dir, "Acme")
    assert path.is_file() and f"saved {path}" in out
    assert "heads fitted on 18 of 24 posts (24 corrections, 0 handled as read)" in out and "on 6 held out" in out
    classifier = build_classifier(settings)
    assert isinstance(classifier, TransformerClassifier) and classifier.brand_heads("Acme") is not None


def test_posts_the_team_handled_as_read_are_learned_from_and_checked_beside_the_corrections(tmp_path: Path) -> None:
    config = write_config(tmp_path / "brandmon.yaml", extra={
        "brands": [{"name": BRAND, "query": "kestrel", "handles": {"x": "KestrelMobile"}}],
        "classifier": {"kind": "transformer", "data_dir": str(tmp_path / "data")}})
    store_corrections(config, 24, brand=BRAND)
    settings = load_settings(config)
    db = Database(settings.database_url)
    try:  # six complaints a responder resolved as the model read them
        stored = seed(db, settings, [post(f"c{n}", f"@KestrelMobile no signal in Leeds since {n}am", handle=f"u{n}")
                                     for n in range(1, 7)])
        for _, item_id in stored.values():
            assert item_id is not None
            set_status(db, item_id, "resolved", "amira", now=NOW)
    finally:
        db.dispose()
    code, out, err = _train(config)
    assert code == 0, err
    # 30 posts, a quarter (8) held out: the check covers what the model reads right, not only its mistakes
    assert "heads fitted on 22 of 30 posts (24 corrections, 6 handled as read)" in out and "on 8 held out" in out


def test_heads_that_score_worse_are_refused_with_a_non_zero_exit(config: Path) -> None:
    _transformer(config)
    store_corrections(config, 24, held_as_model_says=split_held_out(list(range(1, 25)), holdout=0.25, seed=13))
    code, _, err = _train(config)
    assert code == 1 and "worse, so the current model is kept" in err
    assert not brand_heads_file(load_settings(config).classifier.data_dir, "Acme").exists()


def test_too_few_corrections_for_a_named_brand_fail(config: Path) -> None:
    _transformer(config)
    store_corrections(config, 7)
    code, _, err = _train(config, "--brand", "Acme")
    assert code == 1 and "Acme: 7 corrections the model can read; at least 20 are needed" in err
    code, _, err = _train(config, "--brand", "Nobody")
    assert code == 2 and "--brand 'Nobody' is not a configured brand" in err


def test_the_lexicon_model_has_no_heads_to_learn(config: Path) -> None:
    code, _, err = _train(config)
    assert code == 2 and "set classifier.kind: transformer" in err


def test_benchmark_training_options_do_not_go_with_corrections(config: Path) -> None:
    code, _, err = _train(config, "--epochs", "3")
    assert code == 2 and "--epochs does not go with --corrections" in err


@pytest.mark.slow
def test_the_multilingual_model_learns_through_its_english_model(config: Path) -> None:
    from models.multilingual import MultilingualClassifier

    config.write_text(config.read_text(encoding="utf-8").replace("kind: lexicon", "kind: multilingual"),
                      encoding="utf-8")
    store_corrections(config, 24)
    code, out, err = _train(config)
    assert code == 0, err
    assert "heads fitted on 18 of 24 posts" in out
    classifier = build_classifier(load_settings(config))
    assert isinstance(classifier, MultilingualClassifier) and classifier.english.brand_heads("Acme") is not None
