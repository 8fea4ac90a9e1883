"""The learned category head: complaints' built-in categories from real labelled complaints, beside prototypes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from models import ModelUnavailable
from models.base import Post
from models.categories import CategoryFeedback
from models.category_head import (
    BUILTIN_CATEGORY_HEAD,
    CategoryHeadMeta,
    LearnedCategories,
    load_category_head,
    save_category_head,
)
from models.data import DEFAULT_DATA_DIR
from models.heads import HeadsUnavailable
from models.transformer import TransformerClassifier

PRODUCT = "@acme the screen on my new laptop flickers constantly and now it won't turn on"
STAFF = "@acme been waiting 40 minutes on hold and your staff hung up on me"


@pytest.fixture(scope="module")
def classifier() -> Iterator[TransformerClassifier]:
    if not BUILTIN_CATEGORY_HEAD.is_file():
        pytest.skip(f"{BUILTIN_CATEGORY_HEAD} not shipped")
    yield TransformerClassifier(model_categories=True)


def _head(names: list[str], hidden: int = 8) -> LearnedCategories:
    torch.manual_seed(5)
    meta = CategoryHeadMeta(version="t", encoder="e", hidden_size=hidden, names=names)
    return LearnedCategories(torch.randn(len(names), hidden), torch.randn(len(names)), meta)


def test_token_shares_and_the_bias_add_up_to_the_logits() -> None:
    head = _head(["billing", "outage", "other"])
    hidden, mask = torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    scored = head.score(hidden, mask, pooled)
    logits = torch.tensor(scored.shares.sum(1)) + head.bias
    torch.testing.assert_close(torch.softmax(logits, dim=-1), torch.tensor(scored.probs), rtol=1e-4, atol=1e-5)
    assert scored.shares[1, 3:].tolist() == [[0.0] * 3, [0.0] * 3]  # padding carries nothing


def test_a_file_round_trips_and_one_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    head = _head(["billing", "outage"])
    path = tmp_path / "head.safetensors"
    save_category_head(path, head.weight, head.bias, head.meta)
    loaded = load_category_head(path, encoder="e", hidden_size=8, names=("billing", "outage", "other"))
    assert loaded.names == ("billing", "outage") and torch.equal(loaded.weight, head.weight)
    with pytest.raises(HeadsUnavailable, match="fitted on e, not other-encoder"):
        load_category_head(path, encoder="other-encoder")
    with pytest.raises(HeadsUnavailable, match="8 wide, the encoder 384"):
        load_category_head(path, hidden_size=384)
    with pytest.raises(HeadsUnavailable, match="not built in"):
        load_category_head(path, names=("billing",))
    with pytest.raises(ModelUnavailable, match="category head file not found"):
        TransformerClassifier(model_categories=True, category_head=tmp_path / "missing.safetensors")


def test_complaints_get_the_learned_category_with_the_words_behind_it(classifier: TransformerClassifier) -> None:
    product, staff, praise = classifier.classify([Post(PRODUCT, "en", "Acme"), Post(STAFF, "en", "Acme"),
                                                  Post("@acme love the new store layout, great job", "en", "Acme")])
    assert product.complaint and product.category == "product_defect" and product.urgency_category == "product_defect"
    assert product.category_prob is not None and 0.0 < product.category_prob < 1.0 and product.category_words
    assert staff.category == "other" and "staff" in staff.category_words
    assert praise.category == "none" and praise.urgency_category == "none"
    assert "categories from the encoder" in classifier.describe()


def test_the_built_in_keywords_still_place_what_they_name(classifier: TransformerClassifier) -> None:
    [late] = classifier.classify([Post("@acme my order from last week still hasn't arrived, tracking says nothing",
                                       "en", "Acme")])
    assert late.category == "delivery" and late.category_prob == 1.0 and "tracking" in late.category_words


def test_corrections_still_win_over_the_head(classifier: TransformerClassifier) -> None:
    before = [s.category for s in classifier.classify([Post(PRODUCT, "en", "Acme"), Post(STAFF, "en", "Acme")])]
    assert before == ["product_defect", "other"]
    taught = [CategoryFeedback("billing", (STAFF,)), CategoryFeedback("product_defect", (), (PRODUCT,))]
    classifier.add_categories("Acme", taught)
    try:
        product, staff = classifier.classify([Post(PRODUCT, "en", "Acme"), Post(STAFF, "en", "Acme")])
        assert staff.category == "billing"  # the team put this post in billing: its exemplar decides
        assert product.category == "other"  # taken out of product_defect: a complaint in no category
        [elsewhere] = classifier.classify([Post(PRODUCT, "en", "Orbital")])
        assert elsewhere.category == "product_defect"  # other brands keep the head's reading
    finally:
        classifier.add_categories("Acme", [CategoryFeedback(f.name) for f in taught])


@pytest.mark.skipif(not (DEFAULT_DATA_DIR / "complaints").is_dir(), reason="needs ../shared/data/complaints")
def test_on_labelled_real_complaints_the_head_beats_the_keyword_rules() -> None:
    from models.fit_categories import measure

    figures = measure("transformer", BUILTIN_CATEGORY_HEAD, "val", DEFAULT_DATA_DIR)
    assert figures["learned head, all posts"].macro_f1 > figures["keyword rules, all posts"].macro_f1 + 0.1
    assert figures["learned head, complaints"].accuracy > figures["keyword rules, complaints"].accuracy + 0.1
    assert figures["learned head, complaints"].macro_f1 > figures["prototypes only, complaints"].macro_f1


def test_a_model_without_an_encoder_drops_the_category_options_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from core.settings import parse_settings
    from monitor.pipeline import learned_options

    settings = parse_settings({"brands": [{"name": "Acme", "query": "acme"}], "classifier": {
        "kind": "lexicon", "options": {"model_categories": True, "learned_categories": True}}}, origin="c.yaml")
    with caplog.at_level(logging.WARNING):
        assert learned_options(settings) == {}
    assert "learned_categories, model_categories need an encoder; the lexicon classifier" in caplog.text
