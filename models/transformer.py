"""The transformer classifier: one encoder pass per post gives sentiment, complaint, severity and urgency."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import ModelUnavailable
from models.base import SENTIMENTS, Classifier, Post, Scores
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
from models.explain import top_words
from models.heads import BUILTIN_HEADS, HeadsUnavailable, load_heads
from models.language import detect_language
from models.network import TriageNet, token_shares
from models.urgency import UrgencyRules, urgency_score

log = logging.getLogger(__name__)
#: A heads file with this name inside a model folder goes with that model.
HEADS_FILENAME = "brandmon-heads.safetensors"


@dataclass(frozen=True, slots=True)
class _Decision:
    sentiment_probs: np.ndarray
    complaint_prob: float
    severity: int
    reasons: tuple[str, ...]


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
    ) -> None:
        if not 0.0 <= abstain_margin < 1.0:
            raise ValueError(f"abstain_margin must be in [0, 1), got {abstain_margin}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        # One thread by default: beside the pollers, the database and the web app, two threads that each wait
        # for a busy core ran 4x slower than one in `brandmon bench classify`. None leaves torch's setting.
        if num_threads:
            torch.set_num_threads(num_threads)
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
        self._bf16 = bf16_is_fast() if bf16 is None else bf16
        if self._bf16:
            encoder = encoder.to(torch.bfloat16)
        self._net = TriageNet(encoder.eval(), head_module.eval())
        self._tokenizer = tokenizer
        self._meta = meta
        self._urgency = urgency or UrgencyRules()
        self._batch_size = batch_size
        self._abstain_margin = abstain_margin
        self._explain_words = explain_words
        self._languages = frozenset(lang.lower() for lang in (languages or meta.languages))
        encoder_label = BUILTIN_LABEL if model == BUILTIN else _short_name(model)
        self.name = f"{encoder_label} + brandmon heads {meta.version}"
        self.heads_path = heads_path

    @property
    def languages(self) -> frozenset[str]:
        """Return the ISO 639-1 codes this model scores; other posts go to a human."""
        return self._languages

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        """Score posts in length-sorted batches; posts the model cannot read go to a human unscored."""
        results: list[Scores | None] = [None] * len(posts)
        languages = [detect_language(p.text, p.language) for p in posts]
        scorable = []
        for index, (post, language) in enumerate(zip(posts, languages, strict=True)):
            if not post.text.strip():
                results[index] = self._unscored(post, language, "empty post")
            elif language is not None and language not in self._languages:
                covered = ", ".join(sorted(self._languages))
                reason = f"language {language} is not covered by {self.name} (covers {covered})"
                results[index] = self._unscored(post, language, reason)
            else:
                scorable.append(index)
        scorable.sort(key=lambda i: len(posts[i].text))
        for start in range(0, len(scorable), self._batch_size):
            chunk = scorable[start : start + self._batch_size]
            batch = self._score_batch([posts[i] for i in chunk], [languages[i] for i in chunk])
            for index, scores in zip(chunk, batch, strict=True):
                results[index] = scores
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def _score_batch(self, posts: Sequence[Post], languages: Sequence[str | None]) -> list[Scores]:
        texts = [p.text for p in posts]
        encoded = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self._meta.max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        result = self._net(encoded["input_ids"], encoded["attention_mask"])
        shares = token_shares(result, self._net.heads)
        temperature = self._meta.temperature
        sentiment_probs = torch.softmax(result.logits["sentiment"] / temperature["sentiment"], -1).numpy()
        complaint_probs = torch.sigmoid(result.logits["complaint"] / temperature["complaint"]).numpy()
        severity_logits = result.logits["severity"].numpy()
        offsets = encoded["offset_mapping"].numpy()
        mask = encoded["attention_mask"].numpy()
        out = []
        for row, (post, language) in enumerate(zip(posts, languages, strict=True)):
            decision = self._decide(sentiment_probs[row], float(complaint_probs[row]), severity_logits[row])
            label = int(decision.sentiment_probs.argmax())
            sentiment_share = shares["sentiment"][row].numpy()
            # Words that pushed the chosen class above the others.
            toward = sentiment_share[:, label] - np.delete(sentiment_share, label, axis=1).mean(axis=1)
            complaint_share = shares["complaint"][row, :, 0].numpy()
            complaint = decision.complaint_prob >= self._meta.complaint_threshold
            explain = {
                "sentiment": top_words(post.text, offsets[row], mask[row], toward, k=self._explain_words),
                "complaint": top_words(
                    post.text, offsets[row], mask[row], complaint_share if complaint else -complaint_share,
                    k=self._explain_words,
                ),
            }
            out.append(self._assemble(post, language, decision, complaint, explain))
        return out

    def _decide(self, sentiment_probs: np.ndarray, complaint_prob: float, severity_logits: np.ndarray) -> _Decision:
        reasons = []
        ranked = np.sort(sentiment_probs)[::-1]
        if ranked[0] - ranked[1] < self._abstain_margin:
            first, second = np.argsort(sentiment_probs)[::-1][:2]
            reasons.append(
                f"sentiment unsure: {SENTIMENTS[first]} {sentiment_probs[first]:.2f}"
                f" vs {SENTIMENTS[second]} {sentiment_probs[second]:.2f}"
            )
        threshold = self._meta.complaint_threshold
        # The gap between "complaint" and "not a complaint", on the same footing as the sentiment gap.
        if abs(complaint_prob - threshold) * 2 < self._abstain_margin:
            reasons.append(f"complaint unsure: probability {complaint_prob:.2f}")
        severity = 0
        if complaint_prob >= threshold:
            severity = 1 + int(np.argmax(severity_logits[1:]))
        return _Decision(sentiment_probs, complaint_prob, severity, tuple(reasons))

    def _assemble(
        self, post: Post, language: str | None, decision: _Decision, complaint: bool, explain: dict[str, list[str]]
    ) -> Scores:
        probs: dict[str, float] = {
            name: round(float(p), 4) for name, p in zip(SENTIMENTS, decision.sentiment_probs, strict=True)
        }
        found = self._urgency.match(post.text, post.brand)
        category = found.category
        if category == "none" and complaint:
            category = "other"
        urgency_words = list(found.phrases) or (explain["complaint"] if category == "other" else [])
        return Scores(
            sentiment=SENTIMENTS[int(decision.sentiment_probs.argmax())],
            sentiment_probs=probs,
            complaint=complaint,
            complaint_prob=round(decision.complaint_prob, 4),
            severity=decision.severity,
            urgency_score=urgency_score(
                category=category,
                negative_prob=probs["negative"],
                complaint_prob=decision.complaint_prob,
                severity=decision.severity,
            ),
            urgency_category=category,
            language=language,
            needs_human=bool(decision.reasons),
            needs_human_reason="; ".join(decision.reasons) or None,
            explanation={**explain, "urgency": urgency_words},
        )

    def _unscored(self, post: Post, language: str | None, reason: str) -> Scores:
        """Return a placeholder that says nothing about sentiment and sends the post to a human."""
        found = self._urgency.match(post.text, post.brand)
        uniform = round(1.0 / len(SENTIMENTS), 4)
        return Scores(
            sentiment="neutral",
            sentiment_probs={name: uniform for name in SENTIMENTS},
            complaint=False,
            complaint_prob=0.5,
            severity=0,
            # Only the brand's own keywords speak for urgency here; the model said nothing.
            urgency_score=urgency_score(category=found.category, negative_prob=0.0, complaint_prob=0.0, severity=0),
            urgency_category=found.category,
            language=language,
            needs_human=True,
            needs_human_reason=reason,
            explanation={"urgency": list(found.phrases)} if found.phrases else {},
        )


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


def _short_name(model: str) -> str:
    """Return a hub id as it is and a local folder by its last part, for the model name."""
    path = Path(model).expanduser()
    return path.name if path.is_dir() else model
