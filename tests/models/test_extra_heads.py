"""The heads on a tiny random BERT: int8 encoder, irony, needs-a-reply, categories from prototypes, bench."""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models import ModelUnavailable
from models.base import NEEDS_REPLY, SENTIMENTS, URGENCY_CATEGORIES, Classifier, Post, Scores
from models.categories import CategoryHead, merge_categories, parse_categories
from models.encoder import load_encoder
from models.extra_heads import ExtraHeads, ExtraMeta, load_extra_heads, save_extra_heads
from models.heads import HeadsMeta, HeadsUnavailable, TriageHeads, save_heads
from models.quantize import is_quantized, quantize_encoder
from models.scoring import Decision, IronyRule, asks_nothing, asks_question, decide, wants_response
from models.taxonomy import BUILTIN_CATEGORIES, CategorySpec
from models.testing import make_tiny_encoder
from models.throughput import bench_classifier
from models.transformer import TransformerClassifier
from models.urgency import UrgencyRules

WIDTH = 32


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random encoder with random v1 heads and random extra heads."""
    root = tmp_path_factory.mktemp("tiny14")
    encoder = make_tiny_encoder(root / "encoder")
    torch.manual_seed(3)
    save_heads(root / "heads.safetensors", heads=TriageHeads(WIDTH), lora={},
               meta=HeadsMeta(version="t", encoder="tiny", hidden_size=WIDTH, lora=None))
    extra = ExtraHeads(WIDTH)
    meta = ExtraMeta(version="t1", encoder="tiny", hidden_size=WIDTH, irony_threshold=0.5, reply_threshold=0.5)
    save_extra_heads(root / "extra.safetensors", extra, meta)
    return {"encoder": encoder, "heads": root / "heads.safetensors", "extra": root / "extra.safetensors", "root": root}


def build(tiny: dict[str, Path], **options: object) -> TransformerClassifier:
    options.setdefault("precision", "int8")
    options.setdefault("model_categories", True)
    return TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], extra_heads=tiny["extra"],
                                 abstain_margin=0.0, **options)  # type: ignore[arg-type]


def test_old_callers_build_scores_without_the_new_fields() -> None:
    scores = Scores(sentiment="neutral", sentiment_probs={s: 1 / 3 for s in SENTIMENTS}, complaint=False,
                    complaint_prob=0.1, severity=0, urgency_score=0.0, urgency_category="none")
    assert scores.irony_prob is None and scores.needs_reply is None and scores.category is None
    assert tuple(scores.category_words) == ()


def test_int8_encoder_keeps_the_float_output_close(tiny: dict[str, Path]) -> None:
    tokenizer, encoder = load_encoder(str(tiny["encoder"]))
    _, reference = load_encoder(str(tiny["encoder"]))
    batch = tokenizer(["my order never arrived", "love the new app"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        want = reference.eval()(**batch).last_hidden_state
        quantized = quantize_encoder(encoder.eval())
        got = quantized(**batch).last_hidden_state
    assert is_quantized(quantized) and not is_quantized(reference)
    kept = [n for n, m in quantized.named_modules() if type(m) is torch.nn.Linear and not n.startswith("pooler")]
    assert kept == ["encoder.layer.0.output.dense", "encoder.layer.1.output.dense"]
    cosine = torch.nn.functional.cosine_similarity(want.flatten(1), got.flatten(1))
    assert float(cosine.min()) > 0.98


def test_precision_option_is_checked_and_described(tiny: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="precision"):
        build(tiny, precision="int4")
    int8 = build(tiny, precision="int8")
    assert is_quantized(int8._net.encoder) and int8.describe().startswith(f"{int8.name} (int8; ")
    fp32 = build(tiny, precision="fp32")
    assert not is_quantized(fp32._net.encoder) and "(fp32; " in fp32.describe()
    # The name is what is stored with every classification: the weights, not how this machine runs them.
    assert int8.name == fp32.name == "encoder + brandmon heads t"
    # "auto" never picks int8: it cost accuracy on the benchmarks, so it is asked for by name.
    assert build(tiny, precision="auto").precision in {"bf16", "fp32"}


def test_every_head_comes_from_one_encoder_pass(tiny: dict[str, Path]) -> None:
    classifier = build(tiny)
    calls = []
    handle = classifier._net.encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        scores = classifier.classify([Post(text=t, language="en") for t in ("my bill is wrong", "thanks!", "hi")])
    finally:
        handle.remove()
    assert len(calls) == 1
    for s in scores:
        assert s.irony_prob is not None and 0.0 <= s.irony_prob <= 1.0
        assert s.needs_reply in NEEDS_REPLY
        assert s.needs_reply_prob is not None and 0.0 <= s.needs_reply_prob <= 1.0
        assert s.category in (*classifier.categories(), "none")
        assert s.category_prob is not None and 0.0 <= s.category_prob <= 1.0
        assert s.urgency_category in URGENCY_CATEGORIES


def test_sarcastic_praise_is_read_as_a_complaint() -> None:
    rule = IronyRule(threshold=0.5, min_complaint=0.3)

    def decided(probs: list[float], complaint: float, irony: float | None) -> Decision:
        return decide(np.array(probs), complaint, np.zeros(5), abstain_margin=0.1, complaint_threshold=0.5,
                      irony_prob=irony, irony=rule)

    praise = [0.05, 0.15, 0.8]
    ironic = decided(praise, 0.4, 0.9)
    assert ironic.sarcastic and SENTIMENTS[int(ironic.sentiment_probs.argmax())] == "negative"
    assert ironic.complaint_prob >= 0.9 and ironic.severity >= 1
    assert ironic.sentiment_probs.sum() == pytest.approx(1.0)
    plain = decided(praise, 0.4, 0.2)
    assert not decided(praise, 0.1, 0.9).sarcastic  # no problem seen
    assert not plain.sarcastic and SENTIMENTS[int(plain.sentiment_probs.argmax())] == "positive"
    # Irony on a post that is negative already changes nothing, and without an irony head nothing moves.
    angry = decided([0.8, 0.1, 0.1], 0.7, 0.9)
    assert not angry.sarcastic and angry.complaint_prob == pytest.approx(0.7)
    assert not decided(praise, 0.4, None).sarcastic


def test_the_abstain_band_names_both_unsure_scores() -> None:
    unsure = decide(np.array([0.44, 0.1, 0.46]), 0.52, np.zeros(5), abstain_margin=0.1, complaint_threshold=0.5)
    assert unsure.reasons == ("sentiment unsure: positive 0.46 vs negative 0.44", "complaint unsure: probability 0.52")
    sure = decide(np.array([0.8, 0.1, 0.1]), 0.9, np.array([0, 0, 0, 5.0, 0]), abstain_margin=0.1,
                  complaint_threshold=0.5)
    assert sure.reasons == () and sure.severity == 3


def test_needs_reply_follows_the_reply_head_and_sentiment(tiny: dict[str, Path]) -> None:
    classifier = build(tiny)
    heads, meta = load_extra_heads(tiny["extra"])
    post = [Post(text="thanks so much, all sorted", language="en")]
    classifier.use_extra_heads(heads, replace(meta, reply_threshold=0.0))
    first = classifier.classify(post)[0]
    # at threshold 0 the reply head says "answer" to every post; plain praise is answered with thanks
    praise = first.sentiment == "positive" and not first.complaint
    assert first.needs_reply == ("thank" if praise else "respond")
    asked = classifier.classify([Post(text="thanks so much, all sorted?", language="en")])[0]
    assert asked.needs_reply == "respond"
    classifier.use_extra_heads(heads, replace(meta, reply_threshold=1.01))
    again = classifier.classify(post)[0]
    want = "respond" if again.complaint else "thank" if again.sentiment == "positive" else "none"
    assert again.needs_reply == want
    with pytest.raises(ValueError, match="together"):
        classifier.use_extra_heads(heads, None)


def test_praise_that_asks_nothing_is_thanked_whatever_the_reply_head_says() -> None:
    def wants(text: str, sentiment: str = "positive", complaint: bool = False, reply_prob: float = 0.99) -> bool:
        return wants_response(complaint=complaint, reply_prob=reply_prob, threshold=0.9, sentiment=sentiment,
                              text=text)

    assert not wants("@Acme thanks, all sorted!")
    assert wants("@Acme thanks! can I add my partner to the plan?")
    assert wants("@Acme gracias, ¿puedo añadir otra línea?") and wants("@Acme 谢谢！可以再加一张卡吗？")
    assert wants("@Acme شكرا، هل يمكنني إضافة خط؟")
    assert wants("@Acme thanks, all sorted", sentiment="neutral")  # the reply head decides outside praise
    assert not wants("@Acme thanks, all sorted", sentiment="neutral", reply_prob=0.5)
    assert wants("refund landed, thanks", complaint=True, reply_prob=0.0)  # a complaint always needs an answer
    assert asks_nothing(sentiment="positive", complaint=False, text="love it")
    assert not asks_question("love it") and asks_question("love it？")


def test_without_extra_heads_the_new_fields_stay_empty(tiny: dict[str, Path]) -> None:
    classifier = TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"])
    assert classifier.precision == "fp32" or classifier.precision == "bf16"  # int8 is only measured on builtin
    score = classifier.classify([Post(text="where is my parcel", language="en")])[0]
    assert score.irony_prob is None and score.needs_reply is None and score.needs_reply_prob is None
    # Categories come from the keyword rules unless prototype ones are asked for.
    assert score.category == score.urgency_category == "delivery" and list(score.category_words) == ["parcel"]
    assert score.category_prob == 1.0 and classifier.categories() == ()
    with pytest.raises(ValueError, match="model_categories"):
        classifier.add_categories("Acme", [{"name": "x", "description": "d"}])
    with pytest.raises(ValueError, match="model_categories"):
        TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], categories=[{"name": "x",
                                                                                              "description": "d"}])


def test_extra_heads_file_round_trips_and_damage_is_reported(tiny: dict[str, Path], tmp_path: Path) -> None:
    heads, meta = load_extra_heads(tiny["extra"])
    assert meta.version == "t1" and heads.irony.weight.shape == (1, WIDTH)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(HeadsUnavailable, match="cannot read extra heads file"):
        load_extra_heads(bad)
    v1 = tmp_path / "v1.safetensors"
    save_heads(v1, heads=TriageHeads(WIDTH), lora={}, meta=HeadsMeta(version="t", encoder="tiny", hidden_size=WIDTH,
                                                                      lora=None))
    with pytest.raises(HeadsUnavailable, match="not a brandmon extra heads file"):
        load_extra_heads(v1)  # a v1 heads file is not an extra heads file
    with pytest.raises(ModelUnavailable, match="not found"):
        TransformerClassifier(model=str(tiny["encoder"]), heads=tiny["heads"], extra_heads=tmp_path / "none.st")


def _bag_of_words(texts: list[str]) -> torch.Tensor:
    """A deterministic stand-in embedding: one dimension per word hash."""
    out = torch.zeros(len(texts), 4096)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, zlib.crc32(word.encode()) % 4096] += 1.0
    return out


def test_prototype_head_picks_the_category_whose_examples_match() -> None:
    specs = [
        CategorySpec("pets", "", ("dog cat", "cat food", "dog lead")),
        CategorySpec("trains", "", ("train late", "train station", "rail ticket")),
    ]
    head = CategoryHead.build(specs, _bag_of_words, null_similarity=0.2)
    scores = head.score(_bag_of_words(["my dog ate the cat food", "the train is late again", "zzz qqq"]))
    assert [head.names[i] for i in scores.best[:2]] == ["pets", "trains"]
    assert scores.probs.shape == (3, 3)
    np.testing.assert_allclose(scores.probs.sum(1), 1.0, rtol=1e-5)
    # Unrelated words are closer to "no category" (the last column) than to any prototype.
    assert scores.probs[2, -1] > scores.probs[2, :-1].max()


def test_category_token_shares_add_up_to_the_similarity() -> None:
    head = CategoryHead(BUILTIN_CATEGORIES[:3], torch.randn(3, 8))
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    shares = head.token_shares(hidden, mask, pooled)
    total = shares.sum(1) + head.constant(pooled)
    torch.testing.assert_close(total, head.similarities(pooled), rtol=1e-4, atol=1e-5)


def test_brand_categories_are_checked_and_learned_at_start(tiny: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="weight"):
        parse_categories([{"name": "x", "description": "d", "weight": 2}])
    with pytest.raises(ValueError, match="unknown keys"):
        parse_categories([{"name": "x", "description": "d", "colour": "red"}])
    merged = merge_categories(BUILTIN_CATEGORIES, parse_categories([{"name": "billing", "description": "money"}]))
    assert [s.name for s in merged].count("billing") == 1
    roaming = {"name": "roaming", "description": "using the phone abroad", "weight": 0.9,
               "examples": ["no data in Spain", "roaming charges in France", "can't call home from Lisbon"]}
    classifier = build(tiny, brand_categories={"Kestrel": [roaming]})
    assert "roaming" in classifier.categories("kestrel")
    assert "roaming" not in classifier.categories("Acme") and "roaming" not in classifier.categories()
    classifier.add_categories("Acme", [{**roaming, "name": "abroad"}])
    assert "abroad" in classifier.categories("Acme")
    for score in classifier.classify([Post(text="no data in Spain again", language="en", brand="Kestrel")]):
        # A brand category is its own name in `category`; the router's urgency category stays a known one.
        assert score.urgency_category in URGENCY_CATEGORIES


def test_brand_keywords_override_the_model_and_builtin_keywords_do_not(tiny: dict[str, Path]) -> None:
    rules = UrgencyRules(per_brand={"Acme": {"legal": ["small print"]}})
    assert rules.match("my charger caught fire", builtin=False).category == "none"
    assert rules.match("my charger caught fire").category == "safety"
    classifier = build(tiny, urgency=rules)
    score = classifier.classify([Post(text="the small print is a joke", language="en", brand="Acme")])[0]
    assert score.category == "legal" and score.category_prob == 1.0
    assert list(score.category_words) == ["small print"]


class _Slow(Classifier):
    name = "stand-in"

    def classify(self, posts):  # type: ignore[no-untyped-def]
        return [Scores("neutral", {s: 1 / 3 for s in SENTIMENTS}, False, 0.0, 0, 0.0, "none") for _ in posts]


def test_bench_reports_the_lexicon_beside_the_model() -> None:
    result = bench_classifier(_Slow, ["a post"] * 20, batch_size=8, single_posts=3, warmup=1)
    assert result.lexicon_posts_per_s is not None and result.lexicon_posts_per_s > 0
    assert "lexicon, same posts" in result.format()
    assert result.as_dict()["lexicon_posts_per_s"] is not None
    from models.lexicon import LexiconClassifier

    alone = bench_classifier(LexiconClassifier, ["a post"] * 20, batch_size=8, single_posts=3, warmup=1)
    assert alone.lexicon_posts_per_s is None
