"""Per-brand heads learned from the team's corrections (`brandmon train --corrections`).

A correction in the reply queue ("this is a complaint", "this is positive") is stored as a labelled example. For a
brand with enough of them, new sentiment and complaint heads are fitted on the encoder's pooled vectors of the
corrected posts, starting from the heads the brand uses now and held close to them (few examples must not undo
what the benchmarks taught). Some corrections are held out: the new heads are kept only when the whole classifier,
with them in place, scores at least as well on those as it does now. Accepted heads are saved as
`<classifier.data_dir>/heads/<brand>.safetensors` and score that brand's posts from then on; severity, irony,
needs-a-reply and categories keep reading the shipped heads from the same encoder pass; categories learn from the
same corrections in `models.category_corrections`.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.nn import functional

from models.base import SENTIMENTS, Post, Scores
from models.heads import (
    HeadsUnavailable,
    TriageHeads,
    dump_meta,
    load_state,
    meta_fields,
    read_weights,
    write_weights,
)
from models.metrics import classification_figures
from models.network import EXPLAINED, Pass, token_shares

if TYPE_CHECKING:
    from models.transformer import TransformerClassifier

FORMAT = "brandmon-brand-heads"
HEADS_FOLDER = "heads"
#: A brand needs this many corrections before heads are fitted for it.
MIN_CORRECTIONS = 20
#: ...and at least this many of them are held out to check the new heads.
MIN_HELD_OUT = 5
#: Pull of the shipped (or current) weights on the fitted ones: the L2 penalty on their difference.
DEFAULT_ANCHOR = 0.1


def brand_heads_file(data_dir: str | Path, brand: str) -> Path:
    """Return where the heads learned from `brand`'s corrections live under `data_dir`."""
    slug = re.sub(r"[^a-z0-9]+", "-", brand.casefold()).strip("-") or "brand"
    return Path(data_dir).expanduser() / HEADS_FOLDER / f"{slug}.safetensors"


@dataclass(frozen=True, slots=True)
class Correction:
    """One corrected post: its text, the labels the team gave it, and the category the model had picked."""

    id: int
    text: str
    sentiment: str
    complaint: bool
    language: str | None = None
    #: The urgency category the post has after the correction, and the one the model gave it before.
    category: str | None = None
    model_category: str | None = None


@dataclass(slots=True)
class BrandHeadsMeta:
    """What a brand heads file records beside its tensors."""

    brand: str
    encoder: str
    hidden_size: int
    #: The version of the shipped heads the brand heads started from.
    base_version: str
    trained_on: int
    held_out: int
    #: Held-out figures of the classifier with these heads and as it was before (mean of the two macro-F1s).
    figures: dict[str, float] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    created_at: str = ""

    def to_json(self) -> str:
        """Serialise for the safetensors metadata block."""
        return dump_meta(self, FORMAT)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> BrandHeadsMeta:
        """Parse `to_json`'s output, naming the file when it is not one."""
        try:
            meta = cls(**meta_fields(cls, text, FORMAT))
            meta.hidden_size = int(meta.hidden_size)
            return meta
        except (KeyError, TypeError, ValueError) as exc:
            raise HeadsUnavailable(f"{source}: not a brandmon brand heads file: {exc}") from exc


def save_brand_heads(path: Path, heads: TriageHeads, meta: BrandHeadsMeta) -> None:
    """Write a brand's heads and their record into one safetensors file (atomically: a reader never sees half)."""
    partial = path.with_name(path.name + ".partial")
    write_weights(partial, heads.state_dict(), meta.to_json())
    partial.replace(path)


def load_brand_heads(path: Path, *, encoder: str, hidden_size: int) -> tuple[TriageHeads, BrandHeadsMeta]:
    """Read a brand heads file made for `encoder`; `HeadsUnavailable` says what is wrong with it."""
    tensors, metadata = read_weights(path, kind="brand heads", hint="run `brandmon train --corrections`")
    meta = BrandHeadsMeta.from_json(metadata, source=str(path))
    if meta.encoder != encoder or meta.hidden_size != hidden_size:
        raise HeadsUnavailable(
            f"{path}: brand heads for {meta.brand!r} were fitted on {meta.encoder} ({meta.hidden_size} wide), the "
            f"classifier runs {encoder} ({hidden_size} wide); delete the file or run `brandmon train --corrections`"
        )
    heads = TriageHeads(hidden_size)
    load_state(heads, tensors, path=path, hidden_size=hidden_size)
    return heads.eval(), meta


class BrandHeadTable:
    """The heads that score a brand's posts where its corrections replaced the shipped sentiment and complaint."""

    def __init__(self) -> None:
        self._heads: dict[str, TriageHeads] = {}

    def __len__(self) -> int:
        return len(self._heads)

    def get(self, brand: str | None) -> TriageHeads | None:
        """Return the brand's own heads, or None where it uses the shipped ones."""
        return None if brand is None else self._heads.get(brand.casefold())

    def set(self, brand: str, heads: TriageHeads | None) -> None:
        """Score `brand`'s posts with `heads` from now on (None: with the shipped heads again)."""
        if heads is None:
            self._heads.pop(brand.casefold(), None)
        else:
            self._heads[brand.casefold()] = heads.eval()

    def apply(self, brands: Sequence[str | None], result: Pass,
              shares: dict[str, torch.Tensor]) -> tuple[Pass, dict[str, torch.Tensor]]:
        """Return the pass's sentiment and complaint logits (and token shares) with each brand's heads applied."""
        groups: dict[int, tuple[TriageHeads, list[int]]] = {}
        for row, brand in enumerate(brands):
            heads = self.get(brand)
            if heads is not None:
                groups.setdefault(id(heads), (heads, []))[1].append(row)
        if not groups or result.pooled is None:
            return result, shares
        logits = {task: value.clone() for task, value in result.logits.items()}
        shares = {task: value.clone() for task, value in shares.items()}
        for heads, rows in groups.values():
            index = torch.tensor(rows)
            part = Pass(logits={}, hidden=result.hidden[index], mask=result.mask[index], pooled=result.pooled[index])
            out = heads(part.pooled)
            part_shares = token_shares(part, heads)
            for task in EXPLAINED:
                logits[task][index] = out[task].to(logits[task].dtype)
                shares[task][index] = part_shares[task].to(shares[task].dtype)
        return replace(result, logits=logits), shares


def split_held_out(ids: Sequence[int], *, holdout: float, seed: int) -> set[int]:
    """Return the ids held out to check new heads: a seeded share `holdout` of them, at least `MIN_HELD_OUT`."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be between 0 and 1, got {holdout}")
    order = sorted(set(ids))
    random.Random(seed).shuffle(order)
    count = max(MIN_HELD_OUT, round(len(order) * holdout))
    return set(order[:count])


def fit_heads(
    start: TriageHeads,
    vectors: torch.Tensor,
    corrections: Sequence[Correction],
    *,
    temperature: dict[str, float],
    anchor: float = DEFAULT_ANCHOR,
) -> TriageHeads:
    """Return a copy of `start` whose sentiment and complaint heads fit `corrections`, held near `start`.

    Full-batch L-BFGS on the calibrated losses (the heads file's temperatures) plus `anchor` times the squared
    distance from the starting weights: deterministic, and a handful of examples moves the heads only as far as
    they need to.
    """
    heads = copy.deepcopy(start).train(False)
    params = [heads.sentiment.weight, heads.sentiment.bias, heads.complaint.weight, heads.complaint.bias]
    origin = [p.detach().clone() for p in params]
    for frozen in heads.parameters():
        frozen.requires_grad_(False)
    for fitted in params:
        fitted.requires_grad_(True)
    x = vectors.float()
    sentiment = torch.tensor([SENTIMENTS.index(c.sentiment) for c in corrections])
    complaint = torch.tensor([float(c.complaint) for c in corrections])
    optimiser = torch.optim.LBFGS(params, lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        out = heads(x)
        loss = functional.cross_entropy(out["sentiment"] / temperature["sentiment"], sentiment)
        loss = loss + functional.binary_cross_entropy_with_logits(out["complaint"] / temperature["complaint"],
                                                                  complaint)
        loss = loss + anchor * sum(((p - o) ** 2).sum() for p, o in zip(params, origin, strict=True))
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    for fitted in heads.parameters():
        fitted.requires_grad_(False)
    return heads.eval()


def held_out_figures(corrections: Sequence[Correction], scores: Sequence[Scores]) -> dict[str, float]:
    """Return sentiment and complaint macro-F1 of `scores` on `corrections` and their mean, the score to beat."""
    sentiment = classification_figures([SENTIMENTS.index(c.sentiment) for c in corrections],
                                       [SENTIMENTS.index(s.sentiment) for s in scores], SENTIMENTS)
    complaint = classification_figures([int(c.complaint) for c in corrections], [int(s.complaint) for s in scores],
                                       ("no", "yes"))
    return {"sentiment_macro_f1": round(sentiment.macro_f1, 4), "complaint_macro_f1": round(complaint.macro_f1, 4),
            "score": round((sentiment.macro_f1 + complaint.macro_f1) / 2, 4)}


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    """What training on one brand's corrections gave, and whether the new heads were good enough to keep."""

    brand: str
    trained_on: int
    held_out: int
    #: Held-out figures of the classifier as it is, and with the new heads in place.
    before: dict[str, float]
    after: dict[str, float]
    heads: TriageHeads
    meta: BrandHeadsMeta
    #: Corrections left out because the model does not read their language.
    skipped: int = 0
    #: How many of the posts given were the team's confirmations (posts handled as read), not corrections.
    confirmations: int = 0

    @property
    def given(self) -> int:
        """Return every post given to learn from: corrections and confirmations, read or left out."""
        return self.trained_on + self.held_out + self.skipped

    @property
    def accepted(self) -> bool:
        """True when the new heads score at least as well on the held-out corrections as the current model."""
        return self.after["score"] >= self.before["score"]


def train_from_corrections(
    classifier: TransformerClassifier,
    brand: str,
    corrections: Sequence[Correction],
    *,
    confirmations: Sequence[Correction] = (),
    holdout: float = 0.25,
    seed: int = 13,
    anchor: float = DEFAULT_ANCHOR,
    min_corrections: int = MIN_CORRECTIONS,
) -> TrainOutcome:
    """Fit `brand`'s heads on its corrections and check them, through `classifier`, on the held-out ones.

    `confirmations` are posts the team handled as the model read them (`monitor.queue.confirmations`): corrections
    alone are the model's mistakes, on which any change looks better, so they are learned from and held out beside
    the corrections; their ids must differ from the corrections' (`load_confirmations` negates mention ids). With
    no correction there is nothing to learn and none is used. Raises ValueError when there are too few posts to fit
    and check heads. The classifier is left as it was.
    """
    given = [*corrections, *confirmations] if corrections else []
    readable = [c for c in given if c.language is None or c.language in classifier.languages]
    if len(readable) < max(min_corrections, MIN_HELD_OUT + 1):
        raise ValueError(f"{brand}: {len(readable)} corrections the model can read; at least {min_corrections} "
                         "are needed to fit heads and check them on held-out ones")
    held_ids = split_held_out([c.id for c in readable], holdout=holdout, seed=seed)
    held = [c for c in readable if c.id in held_ids]
    train = [c for c in readable if c.id not in held_ids]
    if not train:
        raise ValueError(f"{brand}: every correction is held out; lower --holdout or add corrections")
    posts = [Post(c.text, c.language, brand) for c in held]
    current = classifier.brand_heads(brand)
    before = held_out_figures(held, classifier.classify(posts))
    start = current or classifier.shipped_heads
    heads = fit_heads(start, classifier.embed([c.text for c in train]), train,
                      temperature=classifier.heads_meta.temperature, anchor=anchor)
    classifier.use_brand_heads(brand, heads)
    try:
        after = held_out_figures(held, classifier.classify(posts))
    finally:
        classifier.use_brand_heads(brand, current)
    base = classifier.heads_meta
    meta = BrandHeadsMeta(brand=brand, encoder=base.encoder, hidden_size=base.hidden_size, base_version=base.version,
                          trained_on=len(train), held_out=len(held), figures=after, before=before,
                          created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    return TrainOutcome(brand, len(train), len(held), before, after, heads, meta,
                        skipped=len(given) - len(readable), confirmations=len(confirmations))


__all__ = [
    "BrandHeadTable",
    "BrandHeadsMeta",
    "Correction",
    "TrainOutcome",
    "brand_heads_file",
    "fit_heads",
    "held_out_figures",
    "load_brand_heads",
    "save_brand_heads",
    "split_held_out",
    "train_from_corrections",
]
