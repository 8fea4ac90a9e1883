"""The offline default: the pip-installed MiniLM plus the shipped heads, with the network shut off."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from models import load_classifier
from models.base import Post
from models.extra_heads import BUILTIN_EXTRA_HEADS, load_extra_heads
from models.heads import BUILTIN_HEADS, load_heads
from models.transformer import TransformerClassifier


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """Set HF_HUB_OFFLINE and make every outbound connection fail, so any hub call would show."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"the offline default tried to connect to {address!r}")

    patch.setattr(socket.socket, "connect", refuse)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def builtin(offline: None) -> TransformerClassifier:
    classifier = load_classifier("transformer")
    assert isinstance(classifier, TransformerClassifier)
    return classifier


def test_shipped_heads_are_small_and_describe_themselves() -> None:
    assert BUILTIN_HEADS.stat().st_size < 5_000_000
    _, lora, meta = load_heads(BUILTIN_HEADS)
    assert meta.encoder == "builtin" and meta.hidden_size == 384 and meta.languages == ("en",)
    assert meta.lora is not None and lora
    assert all(0.05 <= t <= 10 for t in meta.temperature.values())
    assert meta.training["val"]["sentiment_macro_recall"] > 0.6


def test_default_loads_offline_and_names_itself(builtin: TransformerClassifier) -> None:
    assert builtin.name == "minilm-l6 + brandmon heads v1"
    assert builtin.languages == frozenset({"en"})
    # The default stays as it was: bf16 where the CPU has it, else fp32; keyword categories; plus the extra heads.
    assert builtin.precision in {"bf16", "fp32"}
    assert builtin.describe() == (
        f"minilm-l6 + brandmon heads v1 ({builtin.precision}; irony and needs-a-reply heads v1; keyword categories)"
    )


def test_shipped_extra_heads_record_how_they_were_fitted() -> None:
    heads, meta = load_extra_heads(BUILTIN_EXTRA_HEADS)
    assert BUILTIN_EXTRA_HEADS.stat().st_size < 100_000 and heads.irony.weight.shape == (1, 384)
    assert meta.hidden_size == 384 and meta.encoder_precision == "int8"
    assert 0.5 <= meta.irony_threshold <= 1.0 and 0.0 < meta.reply_threshold < 1.0
    assert meta.training["irony"]["test_n"] == 784 and meta.training["reply_check"]["n"] == 130


def test_default_fills_the_irony_and_needs_a_reply_fields(builtin: TransformerClassifier) -> None:
    thanks, angry = builtin.classify([
        Post("Thank you so much @acme, the support team sorted it in minutes. Love it!"),
        Post("@acme worst service ever. My order never arrived and nobody answers. Refund me now!"),
    ])
    assert thanks.needs_reply == "thank" and angry.needs_reply == "respond"
    for score in (thanks, angry):
        assert score.irony_prob is not None and 0.0 <= score.irony_prob <= 1.0
        assert score.needs_reply_prob is not None and 0.0 <= score.needs_reply_prob <= 1.0
        assert score.category == score.urgency_category
    assert angry.needs_reply_prob > thanks.needs_reply_prob  # type: ignore[operator]


def test_default_reads_obvious_posts(builtin: TransformerClassifier) -> None:
    angry_text = "@acme worst service ever. My order never arrived and nobody answers. Refund me now!"
    happy, angry, question = builtin.classify(
        [
            Post("Thank you so much @acme, the support team sorted it in minutes. Love it!"),
            Post(angry_text),
            Post("@acme what time does the store on Main Street open on Sunday?"),
        ]
    )
    assert happy.sentiment == "positive" and not happy.complaint
    assert angry.sentiment == "negative" and angry.complaint and angry.severity >= 1
    assert angry.urgency_category in {"billing", "delivery"} and angry.urgency_score > happy.urgency_score
    assert question.sentiment == "neutral" and not question.complaint
    assert angry.explanation["sentiment"] and angry.explanation["complaint"]
    drivers = {w.lower() for w in angry.explanation["sentiment"]}
    assert drivers <= {w.strip(".!,").lower() for w in angry_text.split()}
    assert drivers & {"worst", "ever", "never", "nobody", "refund"}


def test_default_sends_other_languages_to_a_human(builtin: TransformerClassifier) -> None:
    (german,) = builtin.classify([Post("Meine Bestellung ist nie angekommen und niemand antwortet mir, unglaublich")])
    assert german.needs_human and german.language == "de"
    assert german.needs_human_reason == "language de is not covered by minilm-l6 + brandmon heads v1 (covers en)"


def test_fp32_and_bf16_agree(offline: None, builtin: TransformerClassifier) -> None:
    fp32 = TransformerClassifier(bf16=False)
    posts = [Post("the app keeps crashing since the update"), Post("great coffee this morning"), Post("open today?")]
    for a, b in zip(fp32.classify(posts), builtin.classify(posts), strict=True):
        assert a.sentiment == b.sentiment
        assert a.complaint_prob == pytest.approx(b.complaint_prob, abs=0.08)
