"""Tiny stand-ins for plumbing tests: a randomly initialised BERT folder and a small labelled data folder."""

from __future__ import annotations

import json
import random
from pathlib import Path

from models.base import SENTIMENTS

_OPENERS = {
    "negative": ("my order never arrived", "worst service ever", "the app crashed again", "charged twice, no refund"),
    "neutral": ("is the store open today", "what time does delivery start", "new menu out on monday", "how do I reset"),
    "positive": ("thanks for the quick help", "love the new update", "great service as always", "best coffee in town"),
}


def make_tiny_encoder(folder: Path, *, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide random BERT with the built-in tokenizer into `folder`; return it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from models.encoder import builtin_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(builtin_model_dir()), local_files_only=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def labelled_rows(count: int, *, seed: int = 0) -> list[dict[str, object]]:
    """Return `count` short synthetic posts with sentiment, complaint and severity labels."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for index in range(count):
        sentiment = SENTIMENTS[index % len(SENTIMENTS)]
        complaint = sentiment == "negative"
        rows.append(
            {
                "text": f"@acme {rng.choice(_OPENERS[sentiment])} #{index}",
                "sentiment": sentiment,
                "complaint": complaint,
                "severity": rng.randint(1, 4) if complaint else 0,
            }
        )
    return rows


def write_tiny_data(data_dir: Path, *, per_split: int = 24) -> Path:
    """Write every benchmark split with synthetic posts, laid out as the shared data folder is."""
    for split_index, split in enumerate(("train", "val", "test")):
        rows = labelled_rows(per_split, seed=split_index)
        sentiment_rows = [{"text": r["text"], "sentiment": r["sentiment"]} for r in rows]
        _write(data_dir / "sentiment" / f"tweeteval-{split}.jsonl", sentiment_rows)
        _write(data_dir / "complaints" / f"complaints-{split}.jsonl", rows)
    return data_dir


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
