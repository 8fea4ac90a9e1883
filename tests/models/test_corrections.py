"""Per-brand heads from the team's corrections: fitted, checked on held-out corrections, saved, applied per brand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from models.base import Post
from models.corrections import (
    BrandHeadsMeta,
    BrandHeadTable,
    Correction,
    brand_heads_file,
    load_brand_heads,
    save_brand_heads,
    split_held_out,
    train_from_corrections,
)
from models.heads import HeadsUnavailable, TriageHeads
from models.network import Pass, token_shares
from models.transformer import TransformerClassifier
from tests.support.corrections import SLANG, slang_corrections


@pytest.fixture(scope="module")
def classifier() -> Iterator[TransformerClassifier]:
    yield TransformerClassifier()


def test_the_slang_is_read_as_a_complaint_before_any_correction(classifier: TransformerClassifier) -> None:
    scores = classifier.classify([Post(SLANG.format(n=n), "en", "Acme") for n in range(5)])
    assert all(s.sentiment == "negative" and s.complaint for s in scores)


def test_heads_that_learn_the_slang_are_accepted_and_change_only_that_brand(classifier: TransformerClassifier) -> None:
    outcome = train_from_corrections(classifier, "Acme", slang_corrections(24))
    assert outcome.accepted and outcome.trained_on == 18 and outcome.held_out == 6
    assert outcome.before["score"] == 0.0 and outcome.after["score"] > 0.5
    assert classifier.brand_heads("Acme") is None  # checking leaves the classifier as it was
    classifier.use_brand_heads("Acme", outcome.heads)
    try:
        fresh = [Post(SLANG.format(n=100 + n), "en", brand) for n in range(4) for brand in ("Acme", "Other")]
        scores = classifier.classify(fresh)
        assert [s.sentiment for s in scores[0::2]] == ["positive"] * 4
        assert [s.sentiment for s in scores[1::2]] == ["negative"] * 4  # another brand keeps the shipped heads
        assert "heads from corrections for 1 brand(s)" in classifier.describe()
    finally:
        classifier.use_brand_heads("Acme", None)


def test_heads_that_score_worse_on_held_out_corrections_are_refused(classifier: TransformerClassifier) -> None:
    held = split_held_out(list(range(1, 25)), holdout=0.25, seed=13)
    outcome = train_from_corrections(classifier, "Acme", slang_corrections(24, held_as_model_says=held))
    assert outcome.before["score"] == 1.0 and outcome.after["score"] < 1.0 and not outcome.accepted


def test_too_few_corrections_are_refused(classifier: TransformerClassifier) -> None:
    with pytest.raises(ValueError, match="Acme: 8 corrections the model can read; at least 20"):
        train_from_corrections(classifier, "Acme", slang_corrections(8))
    foreign = [Correction(id=n, text="hola", sentiment="neutral", complaint=False, language="es") for n in range(30)]
    with pytest.raises(ValueError, match="0 corrections the model can read"):
        train_from_corrections(classifier, "Acme", foreign)


def test_the_held_out_split_is_seeded_and_never_too_small() -> None:
    assert split_held_out(range(1, 41), holdout=0.25, seed=1) == split_held_out(range(1, 41), holdout=0.25, seed=1)
    assert len(split_held_out(range(1, 41), holdout=0.25, seed=1)) == 10
    assert len(split_held_out(range(1, 11), holdout=0.1, seed=1)) == 5


def test_a_table_applies_a_brands_heads_to_its_rows_only() -> None:
    torch.manual_seed(0)
    shipped, own = TriageHeads(8).eval(), TriageHeads(8).eval()
    hidden, mask = torch.randn(3, 4, 8), torch.ones(3, 4, dtype=torch.long)
    pooled = hidden.mean(1)
    result = Pass(logits=shipped(pooled), hidden=hidden, mask=mask, pooled=pooled)
    table = BrandHeadTable()
    table.set("Acme", own)
    out, shares = table.apply(["acme", None, "Other"], result, token_shares(result, shipped))
    assert torch.allclose(out.logits["sentiment"][0], own(pooled)["sentiment"][0])
    assert torch.equal(out.logits["sentiment"][1:], result.logits["sentiment"][1:])
    assert torch.equal(out.logits["severity"], result.logits["severity"])  # severity stays the shipped head's
    assert torch.allclose(shares["complaint"][0].sum(0), own(pooled)["complaint"][0] - own.complaint.bias, atol=1e-5)


def test_saved_heads_load_for_their_encoder_only(tmp_path: Path) -> None:
    path = brand_heads_file(tmp_path, "Kestrel Mobile")
    assert path == tmp_path / "heads" / "kestrel-mobile.safetensors"
    path.parent.mkdir(parents=True)
    heads = TriageHeads(8).eval()
    meta = BrandHeadsMeta(brand="Kestrel Mobile", encoder="enc", hidden_size=8, base_version="v1", trained_on=15,
                          held_out=5, figures={"score": 0.8})
    save_brand_heads(path, heads, meta)
    loaded, read = load_brand_heads(path, encoder="enc", hidden_size=8)
    assert read == meta and torch.equal(loaded.sentiment.weight, heads.sentiment.weight)
    with pytest.raises(HeadsUnavailable, match=r"fitted on enc .* delete the file or run `brandmon train"):
        load_brand_heads(path, encoder="other", hidden_size=8)
