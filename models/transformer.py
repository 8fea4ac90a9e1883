"""The transformer classifier: one encoder pass per post gives sentiment, complaint, severity and urgency.

Where the extra heads ship (the built-in encoder), the same pass also gives irony and needs-a-reply; with
`model_categories`, categories come from prototypes on the same pooled vector (`models/categories.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from models import ModelUnavailable
from models.base import Classifier, Post, Scores
from models.categories import BrandCategories
from models.category_head import BUILTIN_CATEGORY_HEAD, learned_head
from models.corrections import BrandHeadTable, load_brand_heads
from models.encoder import (
    BUILTIN,
    BUILTIN_LABEL,
    EncoderUnavailable,
    add_lora,
    bf16_is_fast,
    hidden_size,
    load_encoder,
    load_lora,
    merge_lora,
    resolve_model,
)
from models.extra_heads import BUILTIN_EXTRA_HEADS, ExtraHeads, ExtraMeta, load_extra_heads, score_extra
from models.fast_encoder import lean_encoder
from models.heads import BUILTIN_HEADS, HeadsMeta, HeadsUnavailable, TriageHeads, load_heads
from models.language import detect_language
from models.memory import limit_kernel_cache, release_freed_memory_promptly, trim
from models.network import Encoded, TriageNet, calibrated, encode_groups, token_shares
from models.packed import pack_linear_layers
from models.post_scores import BatchOutputs, DecisionSettings, decide_posts
from models.quantize import PRECISIONS, quantize_encoder
from models.relevance import RelevanceFilters
from models.scoring import IronyRule, check_options, unscored
from models.urgency import UrgencyMatch, UrgencyRules

log = logging.getLogger(__name__)
#: A heads file with this name inside a model folder goes with that model.
HEADS_FILENAME = "brandmon-heads.safetensors"


class TransformerClassifier(Classifier):
    """Score posts with a transformer encoder, low-rank adapters and linear triage heads."""

    def __init__(
        self,
        *,
        model: str = BUILTIN,
        heads: str | Path | None = None,
        urgency: UrgencyRules | None = None,
        batch_size: int = 64,
        abstain_margin: float = 0.1,
        num_threads: int | None = 1,
        bf16: bool | None = None,
        languages: Sequence[str] | None = None,
        explain_words: int = 3,
        precision: str = "auto",
        extra_heads: str | Path | None = None,
        model_categories: bool = False,
        categories: Sequence[Any] | None = None,
        brand_categories: Mapping[str, Sequence[Any]] | None = None,
        max_length: int | None = None,
        compact_memory: bool = False,
        brand_heads: Mapping[str, str | Path] | None = None,
        relevance_filters: Mapping[str, str | Path] | None = None,
        category_head: str | Path | None = None,
        learned_categories: bool = True,
    ) -> None:
        check_options(abstain_margin=abstain_margin, batch_size=batch_size)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if (categories or brand_categories) and not model_categories:
            raise ValueError("categories and brand_categories are learned on the encoder: set model_categories")
        # One thread by default: beside the pollers, the database and the web app, two threads that each wait
        # for a busy core ran 4x slower than one in `brandmon bench classify`. None leaves torch's setting.
        if num_threads:
            torch.set_num_threads(num_threads)
        limit_kernel_cache()  # one compiled kernel per batch shape otherwise stays cached (models/memory.py)
        if compact_memory:
            release_freed_memory_promptly()
        heads_path = _heads_path(model, heads)
        try:
            tokenizer, encoder = load_encoder(model)
            head_module, lora, meta = load_heads(heads_path)
        except (EncoderUnavailable, HeadsUnavailable) as exc:
            raise ModelUnavailable(str(exc)) from exc
        width = hidden_size(encoder)
        if meta.hidden_size != width:
            raise ModelUnavailable(
                f"{heads_path}: heads were trained for hidden size {meta.hidden_size} ({meta.encoder}), "
                f"but {model} has {width}"
            )
        try:
            if meta.lora is not None:
                add_lora(encoder, meta.lora)
                load_lora(encoder, lora)
                merge_lora(encoder)
        except EncoderUnavailable as exc:
            raise ModelUnavailable(f"{heads_path}: {exc}") from exc
        # The BERT pooler (a dense layer on the first token) feeds no head here.
        if getattr(encoder, "pooler", None) is not None:
            encoder.register_module("pooler", None)
        if precision == "auto":
            # bfloat16 where the CPU has native units for it (3.4x faster than fp32 there), else fp32: int8 cost
            # 0.003 TweetEval and 0.007 complaints macro-F1 on val (README, "Speed"), so it is asked for by name.
            fast_bf16 = bf16_is_fast() if bf16 is None else bf16
            precision = "bf16" if fast_bf16 else "fp32"
        self.precision = precision
        if precision == "int8":
            encoder = quantize_encoder(encoder.eval())
        elif precision == "bf16":
            encoder = encoder.to(torch.bfloat16)
        # Same numbers, fewer calls: fused query-key-value layers, and bfloat16 weights packed once for oneDNN.
        encoder = lean_encoder(encoder)
        if precision == "bf16":
            pack_linear_layers(encoder)
        self._net = TriageNet(encoder.eval(), head_module.eval())
        self._tokenizer = tokenizer
        self._meta = meta
        self._max_length = min(max_length or meta.max_length, meta.max_length)
        self._extra: ExtraHeads | None = None
        self._extra_meta: ExtraMeta | None = None
        self.use_extra_heads(*_load_extra(extra_heads, model, width))
        self._urgency = urgency or UrgencyRules()
        self._batch_size = batch_size
        self._abstain_margin = abstain_margin
        self._explain_words = explain_words
        self._languages = frozenset(lang.lower() for lang in (languages or meta.languages))
        encoder_label = BUILTIN_LABEL if model == BUILTIN else _short_name(model)
        self.name = f"{encoder_label} + brandmon heads {meta.version}"
        self.heads_path = heads_path
        try:  # complaints' built-in categories from a head trained on real complaints (models/category_head.py)
            learned = None if not model_categories else learned_head(
                category_head, builtin=BUILTIN_CATEGORY_HEAD if model == BUILTIN else None, encoder=meta.encoder,
                hidden_size=width, enabled=learned_categories)
        except HeadsUnavailable as exc:
            raise ModelUnavailable(str(exc)) from exc
        self._categories = (
            BrandCategories(self.embed, categories=categories or (), brand_categories=brand_categories,
                            learned=learned)
            if model_categories
            else None
        )
        self._brand_heads = BrandHeadTable()
        for brand, path in (brand_heads or {}).items():
            try:
                self.use_brand_heads(brand, load_brand_heads(Path(path), encoder=meta.encoder, hidden_size=width)[0])
            except HeadsUnavailable as exc:
                raise ModelUnavailable(str(exc)) from exc
        try:  # filters learned from the brands' "not relevant" clicks (models/relevance.py)
            self.relevance = RelevanceFilters.from_files(relevance_filters or {}, encoder=meta.encoder,
                                                         hidden_size=width)
        except HeadsUnavailable as exc:
            raise ModelUnavailable(str(exc)) from exc
        if compact_memory:
            trim()

    @property
    def languages(self) -> frozenset[str]:
        """Return the ISO 639-1 codes this model scores; other posts go to a human."""
        return self._languages

    def describe(self) -> str:
        """Return the name with the precision and the extra heads and categories in use."""
        parts = [self.precision]
        if self._extra_meta is not None:
            parts.append(f"irony and needs-a-reply heads {self._extra_meta.version}")
        parts.append("categories from the encoder" if self._categories is not None else "keyword categories")
        if self._brand_heads:
            parts.append(f"heads from corrections for {len(self._brand_heads)} brand(s)")
        return f"{self.name} ({'; '.join(parts)})"

    def use_extra_heads(self, heads: ExtraHeads | None, meta: ExtraMeta | None) -> None:
        """Score irony and needs-a-reply with `heads` from now on (None: leave those fields empty)."""
        if (heads is None) != (meta is None):
            raise ValueError("give the extra heads and their metadata together")
        self._extra, self._extra_meta = heads, meta

    @property
    def heads_meta(self) -> HeadsMeta:
        """Return the record of the shipped heads file (encoder, version, temperatures, complaint threshold)."""
        return self._meta

    @property
    def shipped_heads(self) -> TriageHeads:
        """Return the heads every brand without heads of its own is scored with."""
        return self._net.heads

    def brand_heads(self, brand: str) -> TriageHeads | None:
        """Return the sentiment and complaint heads learned from `brand`'s corrections, None where it has none."""
        return self._brand_heads.get(brand)

    def use_brand_heads(self, brand: str, heads: TriageHeads | None) -> None:
        """Score `brand`'s sentiment and complaint with `heads` from now on (None: with the shipped heads)."""
        if heads is not None and heads.sentiment.in_features != hidden_size(self._net.encoder):
            raise ValueError(f"heads for {brand!r} are {heads.sentiment.in_features} wide, the encoder is not")
        self._brand_heads.set(brand, heads)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Return the pooled vector every head reads for each text, (n, hidden), from the same encoder pass.

        Texts go through in length-sorted batches split into groups of similar token length, as `classify` sends
        them: int8 activations are scaled per pass, so passes with the same padding give the same vectors.
        """
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros((len(texts), hidden_size(self._net.encoder)))
        with torch.inference_mode():
            for start in range(0, len(order), self._batch_size):
                chunk = order[start : start + self._batch_size]
                for encoded in encode_groups(self._tokenizer, [texts[i] for i in chunk], max_length=self._max_length):
                    result = self._net(encoded.input_ids, encoded.attention_mask)
                    assert result.pooled is not None  # TriageNet always pools
                    out[torch.tensor([chunk[i] for i in encoded.members])] = result.pooled.float()
        return out

    def add_categories(self, brand: str | None, categories: Sequence[Any]) -> list[str]:
        """Learn a brand's own categories (`{name, description, examples, weight}`) now, offline; return names.

        They are scored beside the built-in ones for that brand's posts (`brand=None`: for every post). A category
        with a built-in name replaces it. Learning is one encoder pass over the descriptions and examples.
        """
        if self._categories is None:
            raise ValueError("this classifier reads categories from keywords: build it with model_categories=True")
        return self._categories.add(brand, categories)

    def categories(self, brand: str | None = None) -> tuple[str, ...]:
        """Return the category names the encoder scores for `brand`'s posts (none with keyword categories)."""
        return () if self._categories is None else self._categories.head(brand).names

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        """Score posts in length-sorted batches; posts the model cannot read go to a human unscored."""
        results: list[Scores | None] = [None] * len(posts)
        languages = [detect_language(p.text, p.language) for p in posts]
        scorable = []
        for index, (post, language) in enumerate(zip(posts, languages, strict=True)):
            if not post.text.strip():
                results[index] = unscored(language, "empty post", self._urgency.match(post.text, post.brand))
            elif language is not None and language not in self._languages:
                covered = ", ".join(sorted(self._languages))
                reason = f"language {language} is not covered by {self.name} (covers {covered})"
                results[index] = unscored(language, reason, self._urgency.match(post.text, post.brand))
            else:
                scorable.append(index)
        scorable.sort(key=lambda i: len(posts[i].text))
        for start in range(0, len(scorable), self._batch_size):
            chunk = scorable[start : start + self._batch_size]
            # One pass per group of similar token length: a batch padded to its longest tweet is nearly half padding.
            for encoded in encode_groups(self._tokenizer, [posts[i].text for i in chunk], max_length=self._max_length):
                members = [chunk[i] for i in encoded.members]
                batch = self._score_batch([posts[i] for i in members], [languages[i] for i in members], encoded)
                for index, scores in zip(members, batch, strict=True):
                    results[index] = scores
        return [r for r in results if r is not None]

    def _decision_settings(self) -> DecisionSettings:
        """Return the thresholds the heads files set (the extra heads' ones when they are loaded)."""
        meta = self._extra_meta
        return DecisionSettings(
            abstain_margin=self._abstain_margin, complaint_threshold=self._meta.complaint_threshold,
            explain_words=self._explain_words,
            irony=None if meta is None else IronyRule(meta.irony_threshold, meta.irony_min_complaint),
            reply_threshold=None if meta is None or self._extra is None else meta.reply_threshold,
        )

    def _match(self, post: Post, builtin: bool) -> UrgencyMatch:
        """Return the urgency keywords in `post`: the configured ones, and the built-in lists when `builtin`."""
        return self._urgency.match(post.text, post.brand, builtin=builtin)

    @torch.inference_mode()
    def _score_batch(self, posts: Sequence[Post], languages: Sequence[str | None], encoded: Encoded) -> list[Scores]:
        result = self._net(encoded.input_ids, encoded.attention_mask)
        shares = token_shares(result, self._net.heads)
        if self._brand_heads:  # brands whose corrections taught them their own sentiment and complaint heads
            result, shares = self._brand_heads.apply([p.brand for p in posts], result, shares)
        extra = None if self._extra is None or self._extra_meta is None else score_extra(
            self._extra, self._extra_meta, result
        )
        outputs = BatchOutputs(
            calibrated(result, self._meta.temperature), shares, encoded.offsets, encoded.attention_mask.numpy(),
            extra=extra,
            categories=None if self._categories is None else self._categories.score([p.brand for p in posts], result),
        )
        out = decide_posts(posts, languages, outputs, self._decision_settings(), match=self._match)
        if self.relevance:  # the same pooled vectors say which posts a brand's relevance filter hides
            out = self.relevance.mark([p.brand for p in posts], result.pooled, out)
        return out


def _heads_path(model: str, heads: str | Path | None) -> Path:
    """Return the heads file to use: the given one, the one in the model folder, or the shipped one."""
    if heads is not None:
        return Path(heads).expanduser()
    if model == BUILTIN:
        return BUILTIN_HEADS
    name, local = resolve_model(model)
    if local and (Path(name) / HEADS_FILENAME).is_file():
        return Path(name) / HEADS_FILENAME
    raise ModelUnavailable(
        f"no brandmon heads for {model!r}: train them with `brandmon train --model {model} --output FILE` "
        f"and pass heads=FILE (or put {HEADS_FILENAME} in the model folder)"
    )


def _load_extra(extra_heads: str | Path | None, model: str, width: int) -> tuple[ExtraHeads | None, ExtraMeta | None]:
    """Return the irony and needs-a-reply heads: the given file, or the shipped one for the built-in encoder.

    Without a file for this encoder (a custom model), the classifier still works and leaves those fields None.
    """
    if extra_heads is None:
        if model != BUILTIN or not BUILTIN_EXTRA_HEADS.is_file():
            return None, None
        path = BUILTIN_EXTRA_HEADS
    else:
        path = Path(extra_heads).expanduser()
    try:
        heads, meta = load_extra_heads(path)
    except HeadsUnavailable as exc:
        raise ModelUnavailable(str(exc)) from exc
    if meta.hidden_size != width:
        raise ModelUnavailable(f"{path}: extra heads are for hidden size {meta.hidden_size}, the encoder has {width}")
    return heads, meta


def _short_name(model: str) -> str:
    """Return a hub id as it is and a local folder by its last part, for the model name."""
    path = Path(model).expanduser()
    return path.name if path.is_dir() else model
