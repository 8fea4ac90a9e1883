"""Speed work on the English classifier: the lean BERT pass, passes of similar length, oneDNN's kernel cache."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models.base import Post
from models.encoder import load_encoder
from models.fast_encoder import LeanBert, lean_encoder
from models.heads import HeadsMeta, TriageHeads, save_heads
from models.memory import KERNEL_CACHE_VARIABLES, limit_kernel_cache
from models.network import PASS_ROWS, WIDTH_MULTIPLE, encode_groups
from models.quantize import quantize_encoder
from models.testing import make_tiny_encoder
from models.throughput import bench_classifier
from models.transformer import TransformerClassifier

WIDTH = 32
#: Posts of very different lengths, so one batch of them is mostly padding.
TEXTS = [
    "ok",
    "thanks!",
    "my order never arrived and nobody answers the phone, this is the third time this month",
    "is the store open on sunday?",
    "I've been charged twice for the same subscription this month, refund please, I have written to support "
    "four times and every answer is a template that tells me to wait another five working days",
    "love the new update",
] * 7


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random BERT and random triage heads for it."""
    root = tmp_path_factory.mktemp("fast")
    torch.manual_seed(5)
    save_heads(root / "heads.safetensors", heads=TriageHeads(WIDTH), lora={},
               meta=HeadsMeta(version="t", encoder="tiny", hidden_size=WIDTH, lora=None))
    return {"encoder": make_tiny_encoder(root / "encoder", seed=2), "heads": root / "heads.safetensors"}


def test_lean_bert_gives_the_hugging_face_token_states(tiny: dict[str, Path]) -> None:
    tokenizer, reference = load_encoder(str(tiny["encoder"]))
    _, source = load_encoder(str(tiny["encoder"]))
    lean = lean_encoder(source.eval())
    assert isinstance(lean, LeanBert)
    encoded = tokenizer(TEXTS[:6], padding=True, return_tensors="pt")
    with torch.inference_mode():
        want = reference.eval()(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
        got = lean(encoded["input_ids"], encoded["attention_mask"])
    real = encoded["attention_mask"].bool()
    # Padding positions are never read (pooling and explanations mask them), so only real tokens must agree.
    assert torch.allclose(got.last_hidden_state[real], want.last_hidden_state[real], atol=1e-5)


def test_int8_and_non_bert_encoders_stay_as_they_are(tiny: dict[str, Path]) -> None:
    _, encoder = load_encoder(str(tiny["encoder"]))
    quantized = quantize_encoder(encoder.eval())
    assert lean_encoder(quantized) is quantized
    other = torch.nn.Linear(4, 4)
    assert lean_encoder(other) is other


def test_passes_are_short_length_sorted_and_keep_every_post(tiny: dict[str, Path]) -> None:
    tokenizer, _ = load_encoder(str(tiny["encoder"]))
    passes = encode_groups(tokenizer, TEXTS, max_length=30)
    members = [i for p in passes for i in p.members]
    assert sorted(members) == list(range(len(TEXTS)))
    assert len(passes) == -(-len(TEXTS) // PASS_ROWS)
    lengths = []
    for p in passes:
        rows, width = p.input_ids.shape
        assert rows <= PASS_ROWS and p.attention_mask.shape == (rows, width) and p.offsets.shape == (rows, width, 2)
        assert width % WIDTH_MULTIPLE == 0 or width == 30
        for row, index in enumerate(p.members):
            alone = tokenizer(TEXTS[index], truncation=True, max_length=30, return_offsets_mapping=True)
            size = len(alone["input_ids"])
            lengths.append(size)
            assert p.input_ids[row, :size].tolist() == alone["input_ids"]
            assert p.attention_mask[row].sum() == size
            assert [tuple(span) for span in p.offsets[row, :size].tolist()] == list(alone["offset_mapping"])
    assert lengths == sorted(lengths)
    with pytest.raises(ValueError, match="rows"):
        encode_groups(tokenizer, TEXTS, max_length=30, rows=0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_post_scores_the_same_alone_and_in_a_mixed_batch(tiny: dict[str, Path], precision: str) -> None:
    classifier = TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], precision=precision,
                                       abstain_margin=0.0)
    assert isinstance(classifier._net.encoder, LeanBert)
    posts = [Post(text=t, language="en") for t in TEXTS]
    together = classifier.classify(posts)
    tolerance = 1e-5 if precision == "fp32" else 0.02  # bfloat16 sums round differently with other batch shapes
    for post, many in zip(posts[:6], together[:6], strict=True):
        [one] = classifier.classify([post])
        assert abs(one.complaint_prob - many.complaint_prob) <= tolerance
        for label, prob in one.sentiment_probs.items():
            assert abs(prob - many.sentiment_probs[label]) <= tolerance
        if precision == "fp32":
            assert one.explanation == many.explanation


def test_kernel_cache_is_capped_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KERNEL_CACHE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert limit_kernel_cache(16) is True
    assert [os.environ[name] for name in KERNEL_CACHE_VARIABLES] == ["16", "16"]
    monkeypatch.setenv(KERNEL_CACHE_VARIABLES[0], "512")
    monkeypatch.delenv(KERNEL_CACHE_VARIABLES[1])
    assert limit_kernel_cache(16) is False
    assert os.environ[KERNEL_CACHE_VARIABLES[0]] == "512"
    with pytest.raises(ValueError):
        limit_kernel_cache(0)


def test_bench_gives_the_lexicon_ratio_in_wall_and_cpu_time(tiny: dict[str, Path]) -> None:
    from monitor.bench.report import CLASSIFY_TARGET_LEXICON_RATIO, _lexicon_figure

    result = bench_classifier(
        lambda: TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], precision="fp32"),
        TEXTS, batch_size=16, single_posts=3, warmup=1,
    )
    assert result.lexicon_posts_per_s and result.lexicon_posts_per_cpu_s and result.batched_posts_per_cpu_s
    assert "x per CPU second)" in result.format()
    [figure] = _lexicon_figure(result)
    ratio = result.batched_posts_per_s / result.lexicon_posts_per_s
    assert figure.value == f"{ratio:.3f}x" and figure.ok == (ratio >= CLASSIFY_TARGET_LEXICON_RATIO)
    assert _lexicon_figure(replace(result, lexicon_posts_per_s=None)) == []
