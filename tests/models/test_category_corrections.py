"""Categories learned from a brand's corrections: exemplars on the encoder, checked on held-out ones, saved, loaded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from core.settings import load_settings
from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow
from models import ModelUnavailable
from models.base import Post
from models.categories import BrandCategories, CategoryFeedback, CategoryHead, Exemplars
from models.category_corrections import (
    brand_categories_file,
    category_feedback,
    category_figures,
    load_category_feedback,
    train_categories,
    with_category_feedback,
)
from models.corrections import Correction, split_held_out
from models.taxonomy import CategorySpec
from models.transformer import TransformerClassifier
from monitor.cli import main
from monitor.pipeline import build_classifier
from tests.support.streams import write_config

#: Acme's customers post these again and again; the built-in categories read both as an outage (written by us).
POINTS = "@acme my loyalty points vanished from the app again, order {n}"
LIFT = "@acme the lift at your Leeds store has been broken for {n} days"


def corrections(count: int = 24, *, held_as_model_says: set[int] | None = None) -> list[Correction]:
    """Return the team's corrections: the points posts are billing, the lift posts no category of Acme's."""
    out = []
    for n in range(1, count + 1):
        text, given = (POINTS.format(n=100 + n), "billing") if n % 2 else (LIFT.format(n=n), "none")
        as_model = held_as_model_says is not None and n in held_as_model_says
        out.append(Correction(id=n, text=text, sentiment="negative", complaint=True, language="en",
                              category="outage" if as_model else given, model_category="outage"))
    return out


@pytest.fixture(scope="module")
def classifier() -> Iterator[TransformerClassifier]:
    # prototypes alone (no learned head, tests/models/test_category_head.py): exemplars are what these tests change
    yield TransformerClassifier(model_categories=True, learned_categories=False)


def _categories(classifier: TransformerClassifier, texts: list[str], brand: str = "Acme") -> list[str]:
    return [s.urgency_category for s in classifier.classify([Post(t, "en", brand) for t in texts])]


def test_a_correction_teaches_its_new_category_and_a_none_counts_against_the_old_one() -> None:
    taught = category_feedback([
        Correction(1, "a", "negative", True, category="billing", model_category="outage"),
        Correction(2, "b", "negative", True, category="none", model_category="outage"),
        Correction(3, "c", "negative", True, category="other", model_category="legal"),
        Correction(4, "d", "negative", True, category="outage", model_category="outage"),  # kept: teaches nothing
        Correction(5, "e", "negative", True, category="other", model_category="none"),  # none and other are one
    ])
    assert taught == [CategoryFeedback("billing", ("a",)), CategoryFeedback("legal", (), ("c",)),
                      CategoryFeedback("outage", (), ("b",))]
    assert category_figures(["other", "billing"], ["none", "outage"]) == {"accuracy": 0.5, "macro_f1": 0.5}


def test_exemplar_scores_add_up_from_the_tokens_and_reach_only_close_posts() -> None:
    torch.manual_seed(3)
    specs = [CategorySpec("a", "a"), CategorySpec("b", "b")]
    exemplar = torch.nn.functional.normalize(torch.randn(2, 16), dim=-1)
    head = CategoryHead(specs, torch.randn(2, 16), exemplars=Exemplars(exemplar, torch.tensor([0, 1]),
                                                                       torch.tensor([True, False])))
    hidden, mask = torch.randn(3, 5, 16), torch.ones(3, 5, dtype=torch.long)
    hidden[0] = exemplar[0] * 5 + 0.01 * hidden[0]  # post 0 is the "a" exemplar, post 1 the taken-out one
    hidden[1] = exemplar[1] * 5 + 0.01 * hidden[1]
    pooled = hidden.mean(1)
    sims = head.similarities(pooled)
    torch.testing.assert_close(head.token_shares(hidden, mask, pooled).sum(1) + head.constant(pooled), sims,
                               rtol=1e-4, atol=1e-5)
    assert sims[0, 0] == pytest.approx(1.0 - head.margin, abs=1e-3)
    assert head.null(pooled)[1, 0] == pytest.approx(1.0 - head.margin, abs=1e-3)  # close to a "none": none
    far = torch.nn.functional.normalize(pooled[2:], dim=-1) @ head.prototypes.t()
    torch.testing.assert_close(sims[2:], far)  # a post far from every exemplar reads the prototypes only
    assert head.null(pooled)[2, 0] == head.null_similarity


def _embed(texts: list[str]) -> torch.Tensor:
    """Give each text its own fixed random vector (the same text, the same vector)."""
    return torch.stack([torch.randn(16, generator=torch.Generator().manual_seed(sum(map(ord, t)))) for t in texts])


def test_feedback_adds_to_a_brands_category_and_empty_feedback_removes_it(caplog: pytest.LogCaptureFixture) -> None:
    table = BrandCategories(_embed)
    taught = CategoryFeedback("billing", ("my points vanished",), ("the lift is broken",))
    assert "billing" in table.add("Acme", [taught, CategoryFeedback("roaming", ("x",))])
    assert table.feedback("acme") == (taught,) and "not scored for the brand" in caplog.text
    assert table.head("Acme").exemplars is not None and table.head("Orbital").exemplars is None
    post = _embed(["my points vanished"])
    assert table.head("Acme").score(post).best[0] == table.head("Acme").names.index("billing")
    table.add("Acme", [CategoryFeedback("billing")])
    assert table.feedback("Acme") == () and table.head("Acme").exemplars is None
    with pytest.raises(ValueError, match="give the brand"):
        table.add(None, [taught])


def test_learned_categories_change_a_held_out_similar_post(classifier: TransformerClassifier) -> None:
    fresh = [POINTS.format(n=9999), LIFT.format(n=40), "@acme no signal in the whole town since this morning"]
    assert _categories(classifier, fresh) == ["outage", "outage", "outage"]
    outcome = train_categories(classifier, "Acme", corrections())
    assert outcome.accepted and (outcome.trained_on, outcome.taught, outcome.held_out) == (18, 18, 6)
    assert outcome.before == {"accuracy": 0.0, "macro_f1": 0.0} and outcome.after["accuracy"] == 1.0
    assert _categories(classifier, fresh) == ["outage", "outage", "outage"]  # checking leaves it as it was
    classifier.add_categories("Acme", outcome.feedback)
    try:
        after = classifier.classify([Post(t, "en", "Acme") for t in fresh])
        assert [s.urgency_category for s in after] == ["billing", "other", "outage"]
        assert after[0].category_words  # the words that drove it, read towards the exemplar
        assert _categories(classifier, fresh, "Orbital") == ["outage", "outage", "outage"]  # other brands keep theirs
    finally:
        classifier.add_categories("Acme", [CategoryFeedback(f.name) for f in outcome.feedback])
    assert _categories(classifier, fresh) == ["outage", "outage", "outage"]


def test_categories_that_score_worse_on_held_out_corrections_are_refused(classifier: TransformerClassifier) -> None:
    held = split_held_out(list(range(1, 25)), holdout=0.25, seed=13)
    outcome = train_categories(classifier, "Acme", corrections(held_as_model_says=held))
    assert outcome.before["macro_f1"] == 1.0 and outcome.after["macro_f1"] < 1.0 and not outcome.accepted
    assert _categories(classifier, [POINTS.format(n=9999)]) == ["outage"]


def test_too_few_category_corrections_or_keyword_categories_are_refused(classifier: TransformerClassifier) -> None:
    kept = [Correction(n, POINTS.format(n=n), "negative", True, "en", "outage", "outage") for n in range(1, 25)]
    with pytest.raises(ValueError, match="Acme: 0 category corrections outside the held-out ones; at least 3"):
        train_categories(classifier, "Acme", kept)
    with pytest.raises(ValueError, match="more than 5 are needed"):
        train_categories(classifier, "Acme", corrections(5))
    with pytest.raises(ValueError, match="reads categories from keywords"):
        train_categories(TransformerClassifier(), "Acme", corrections())


def store(config: Path, rows: list[Correction]) -> None:
    """Store corrections as the reply queue's reclassify stores them."""
    db = Database(load_settings(config).database_url)
    db.migrate()
    with db.session() as session:
        for c in rows:
            session.add(LabelledExampleRow(
                mention_id=None, brand="Acme", network="x", language="en", text=c.text, sentiment=c.sentiment,
                complaint=c.complaint, urgency_category=c.category, origin="queue", actor="amira",
                model_labels={"sentiment": "negative", "complaint": True, "urgency_category": c.model_category},
                created_at=datetime(2026, 3, 2, tzinfo=UTC)))
    db.dispose()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "brandmon.yaml", extra={"classifier": {
        "kind": "transformer", "data_dir": str(tmp_path / "data"),
        "options": {"model_categories": True, "learned_categories": False}}})  # prototypes, as the fixture above


def _train(config: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["train", "--corrections", "-c", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_saves_what_it_learned_and_the_pipeline_loads_it(config: Path) -> None:
    store(config, corrections())
    code, out, err = _train(config)
    assert code == 0, err
    path = brand_categories_file(load_settings(config).classifier.data_dir, "Acme")
    assert path.name == "acme.categories.json" and path.parent.name == "heads"
    assert ("Acme: categories taught by 18 category corrections (of 18 used) score category macro-F1 1.000, "
            "accuracy 1.000 on 6 held-out corrections; the current model scores category macro-F1 0.000") in out
    assert f"kept, saved {path}" in out
    feedback, meta = load_category_feedback(path)
    assert {f.name for f in feedback} == {"billing", "outage"} and meta.trained_on == 18
    classifier = build_classifier(load_settings(config))
    assert isinstance(classifier, TransformerClassifier)
    assert _categories(classifier, [POINTS.format(n=9999), LIFT.format(n=40)]) == ["billing", "other"]


def test_the_command_refuses_worse_categories_with_a_non_zero_exit(config: Path) -> None:
    store(config, corrections(held_as_model_says=split_held_out(list(range(1, 25)), holdout=0.25, seed=13)))
    code, _, err = _train(config)
    assert code == 1 and "worse, so the current categories are kept" in err
    assert not brand_categories_file(load_settings(config).classifier.data_dir, "Acme").exists()


def test_saved_feedback_turns_on_model_categories_and_a_broken_file_says_so(tmp_path: Path) -> None:
    taught = [CategoryFeedback("billing", ("x",))]
    options = with_category_feedback({"brand_categories": {"Acme": [{"name": "roaming"}]}}, {"Acme": taught})
    assert options == {"model_categories": True, "brand_categories": {"Acme": [{"name": "roaming"}, *taught]}}
    assert with_category_feedback({"precision": "int8"}, {}) == {"precision": "int8"}
    broken = tmp_path / "acme.categories.json"
    broken.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ModelUnavailable, match=r"not a brandmon brand categories file .* run `brandmon train"):
        load_category_feedback(broken)
