"""The extra heads for multilingual-e5: the shipped file, and the decision its reply threshold is chosen with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.extra_heads import load_extra_heads
from models.fit_extra_e5 import BUILTIN_ML_EXTRA_HEADS, reply_decisions


def test_reply_decisions_follow_complaint_then_reply_then_praise() -> None:
    sentiment = np.array([[0.1, 0.2, 0.7], [0.1, 0.2, 0.7], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    complaint = np.array([0.9, 0.1, 0.1, 0.1])
    reply = np.array([0.0, 0.95, 0.2, 0.2])
    assert reply_decisions(sentiment, complaint, reply, complaint_threshold=0.5, reply_threshold=0.9) == [
        "respond", "respond", "thank", "none"]


def test_shipped_file_fits_e5_and_records_its_figures() -> None:
    heads, meta = load_extra_heads(BUILTIN_ML_EXTRA_HEADS)
    assert meta.hidden_size == heads.irony.in_features == 384
    assert "multilingual-e5-small" in meta.encoder
    record = meta.training
    assert 0.0 < record["irony"]["test_f1_ironic"] <= 1.0 and record["irony"]["test_n"] == 784
    assert set(record["reply_check"]["other_languages_per_language"]) == {"de", "es", "fr", "it", "pt"}
    assert 0.0 < meta.reply_threshold < 1.0


def test_encode_cached_encodes_only_what_the_cache_lacks(tmp_path: Path) -> None:
    from models.fit_extra import encode_cached

    calls: list[str] = []

    def embed(key: str, group: list[str]) -> np.ndarray:
        calls.append(key)
        return np.full((len(group), 2), float(len(key)), dtype=np.float32)

    cache = tmp_path / "pools.npz"
    first = encode_cached({"a": ["x", "y"], "bb": ["z"]}, cache, embed)
    again = encode_cached({"a": ["x", "y"], "bb": ["z"], "ccc": ["w"]}, cache, embed)
    assert calls == ["a", "bb", "ccc"]
    assert np.array_equal(first["a"], again["a"]) and again["ccc"].shape == (1, 2)
