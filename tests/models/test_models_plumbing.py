"""Model plumbing on a tiny random BERT: adapters, heads files, explanations, abstaining, languages."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models import ModelUnavailable, load_classifier
from models.base import SENTIMENTS, Post
from models.encoder import LoRAConfig, LoRALinear, add_lora, load_encoder, merge_lora
from models.explain import top_words
from models.heads import HeadsUnavailable, TriageHeads, load_heads
from models.metrics import classification_figures, expected_calibration_error
from models.network import TriageNet, token_shares
from models.testing import make_tiny_encoder, write_tiny_data
from models.training import TrainConfig, train
from models.transformer import TransformerClassifier
from models.urgency import UrgencyRules


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train heads for a tiny random encoder on synthetic data once for the module."""
    root = tmp_path_factory.mktemp("tiny")
    encoder = make_tiny_encoder(root / "encoder")
    data = write_tiny_data(root / "data")
    config = TrainConfig(
        model=str(encoder), data_dir=data, output=root / "heads.safetensors", epochs=1.0, batch_size=8,
        complaint_batch_size=4, eval_every=2, progress=False, seed=7,
    )
    train(config)
    return {"encoder": encoder, "data": data, "heads": root / "heads.safetensors", "root": root}


@pytest.fixture(scope="module")
def classifier(tiny: dict[str, Path]) -> TransformerClassifier:
    return TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], abstain_margin=0.0)


def test_lora_merge_gives_the_same_output_as_the_adapted_layer() -> None:
    torch.manual_seed(0)
    layer = LoRALinear(torch.nn.Linear(16, 8), rank=4, alpha=8.0)
    torch.nn.init.normal_(layer.lora_b)
    x = torch.randn(5, 16)
    torch.testing.assert_close(layer(x), layer.merged()(x))


def test_add_lora_freezes_the_encoder_and_skips_the_pooler(tiny: dict[str, Path]) -> None:
    _, encoder = load_encoder(str(tiny["encoder"]))
    wrapped = add_lora(encoder, LoRAConfig(rank=2))
    # 2 layers x (query, key, value, attention output, intermediate, output).
    assert len(wrapped) == 12
    assert not any(name.startswith("pooler") for name in wrapped)
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    merge_lora(encoder)
    assert not any(isinstance(m, LoRALinear) for m in encoder.modules())


def test_token_shares_add_up_to_the_logits(tiny: dict[str, Path]) -> None:
    tokenizer, encoder = load_encoder(str(tiny["encoder"]))
    heads = TriageHeads(32).eval()
    net = TriageNet(encoder.eval(), heads)
    batch = tokenizer(["a short post", "a somewhat longer post about a late parcel"], padding=True, return_tensors="pt")
    with torch.no_grad():
        result = net(batch["input_ids"], batch["attention_mask"])
        shares = token_shares(result, heads, ("sentiment", "complaint", "severity"))
    assert set(token_shares(result, heads)) == {"sentiment", "complaint"}  # the ones explanations read
    for task in ("sentiment", "complaint", "severity"):
        bias = getattr(heads, task).bias
        logits = result.logits[task].reshape(2, -1)
        torch.testing.assert_close(shares[task].sum(1) + bias, logits, rtol=1e-4, atol=1e-5)


def test_training_is_reproducible_from_the_seed(tiny: dict[str, Path], tmp_path: Path) -> None:
    config = TrainConfig(
        model=str(tiny["encoder"]), data_dir=tiny["data"], output=tmp_path / "again.safetensors", epochs=1.0,
        batch_size=8, complaint_batch_size=4, eval_every=2, progress=False, seed=7,
    )
    train(config)
    first, second = load_file(str(tiny["heads"])), load_file(str(tmp_path / "again.safetensors"))
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)


def test_heads_file_records_calibration_and_adapter(tiny: dict[str, Path]) -> None:
    heads, lora, meta = load_heads(tiny["heads"])
    assert meta.hidden_size == 32 and meta.lora is not None and lora
    assert set(meta.temperature) == {"sentiment", "complaint", "severity"}
    assert meta.training["seed"] == 7 and meta.training["best_step"] >= 1
    assert heads.sentiment.out_features == len(SENTIMENTS)


def test_classify_returns_one_calibrated_score_per_post_in_order(classifier: TransformerClassifier) -> None:
    posts = [Post("love the new update"), Post("my order never arrived, refund please"), Post("is the store open")]
    scores = classifier.classify(posts)
    assert len(scores) == 3
    for post, score in zip(posts, scores, strict=True):
        assert math.isclose(sum(score.sentiment_probs.values()), 1.0, abs_tol=1e-3)
        assert score.sentiment == max(score.sentiment_probs, key=score.sentiment_probs.__getitem__)
        assert 0.0 <= score.complaint_prob <= 1.0 and 0.0 <= score.urgency_score <= 1.0
        assert (score.severity > 0) == score.complaint
        words = {w.strip(".,!?").lower() for w in post.text.split()}
        for drivers in score.explanation.values():
            assert all(word.lower() in words for word in drivers)
    assert scores[1].urgency_category in {"billing", "delivery"}
    assert "refund" in scores[1].explanation["urgency"] or "never arrived" in scores[1].explanation["urgency"]
    assert classifier.name == "encoder + brandmon heads v1"


def test_batching_does_not_change_scores(tiny: dict[str, Path], classifier: TransformerClassifier) -> None:
    posts = [Post(f"post number {i} about a parcel that is {'late ' * (i % 5)}again") for i in range(9)]
    small = TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], batch_size=2, abstain_margin=0.0)
    for a, b in zip(classifier.classify(posts), small.classify(posts), strict=True):
        for name in SENTIMENTS:
            assert a.sentiment_probs[name] == pytest.approx(b.sentiment_probs[name], abs=2e-2)


def test_unsure_posts_go_to_a_human_with_a_reason(tiny: dict[str, Path]) -> None:
    unsure = TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], abstain_margin=0.999)
    (score,) = unsure.classify([Post("is the store open today")])
    assert score.needs_human and score.needs_human_reason
    assert "sentiment unsure" in score.needs_human_reason


def test_uncovered_language_goes_to_a_human_unscored(classifier: TransformerClassifier) -> None:
    reported, detected, english = classifier.classify(
        [
            Post("my order is late", language="fr"),
            Post("Mi pedido nunca llegó y nadie responde a mis mensajes, estoy muy enfadado"),
            Post("my order is late", language="en-GB"),
        ]
    )
    assert reported.needs_human and reported.language == "fr"
    assert "language fr" in (reported.needs_human_reason or "")
    assert set(reported.sentiment_probs.values()) == {round(1 / 3, 4)} and not reported.complaint
    assert detected.needs_human and "language es" in (detected.needs_human_reason or "")
    assert english.language == "en" and not english.needs_human


def test_brand_keywords_set_the_urgency_category(tiny: dict[str, Path]) -> None:
    rules = UrgencyRules(per_brand={"acme": {"safety": ["melted"]}})
    scored = TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], urgency=rules)
    acme, other = scored.classify([Post("the kettle melted", brand="acme"), Post("the kettle melted", brand="zeta")])
    assert acme.urgency_category == "safety" and acme.explanation["urgency"] == ["melted"]
    assert other.urgency_category in {"none", "other"}


def test_missing_or_mismatched_heads_raise_model_unavailable(tiny: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no brandmon heads"):
        load_classifier("transformer", model=str(tiny["encoder"]))
    with pytest.raises(ModelUnavailable, match="not found"):
        load_classifier("transformer", model=str(tiny["encoder"]), heads=tmp_path / "absent.safetensors")
    with pytest.raises(ModelUnavailable, match="hidden size 32"):
        load_classifier("transformer", model="builtin", heads=tiny["heads"])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(HeadsUnavailable):
        load_heads(bad)


def test_top_words_sums_tokens_per_word_and_skips_handles() -> None:
    text = "@acme refund now, totally unacceptable"
    # Token spans as a WordPiece tokenizer gives them; [CLS]/[SEP] have empty spans.
    offsets = np.array([[0, 0], [0, 1], [1, 5], [6, 12], [13, 16], [16, 17], [18, 25], [26, 28], [28, 38], [0, 0]])
    mask = np.ones(len(offsets), dtype=int)
    shares = np.array([5.0, 3.0, 3.0, 0.5, -1.0, 0.0, 0.2, 0.4, 0.4, 5.0])
    assert top_words(text, offsets, mask, shares, k=2) == ["unacceptable", "refund"]
    assert top_words(text, offsets, mask, -shares, k=3) == ["now"]


def test_metrics_match_hand_computed_values() -> None:
    figures = classification_figures([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ("a", "b", "c"))
    assert figures.per_class_recall == {"a": 0.5, "b": 1.0, "c": 0.5}
    assert figures.macro_recall == pytest.approx(2 / 3)
    assert figures.accuracy == pytest.approx(4 / 6)
    # F1: a 0.5, b 0.8, c 2/3.
    assert figures.macro_f1 == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # Bins: 0.9 confident, right once of twice (gap 0.4); 0.6 confident, right twice (gap 0.4).
    assert expected_calibration_error(probs, np.array([0, 1, 0, 0])) == pytest.approx(0.4)
