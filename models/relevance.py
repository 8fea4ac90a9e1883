"""Per-brand relevance filters learned from "not relevant" clicks (`brandmon train --relevance`).

A brand query catches posts that are not about the brand ("apple pie", a namesake, a bot). When a responder marks
such a post not relevant, that click is a labelled example; the posts responders handled (replied to, resolved,
reclassified, reopened) are the other side. For a brand with enough of both, a logistic filter is fitted on the
encoder's pooled vectors (the vectors every head reads, so applying it costs no second encoder pass): its output is
the probability that a post is not about the brand. Its threshold is chosen on the training clicks (out-of-fold) as
the lowest at which "not relevant" keeps the precision floor (never under `MIN_THRESHOLD`), and a share of the
clicks is held out to check it. A filter whose held-out precision is under the floor, or that had too few clicks to
learn and check, is refused: it would hide real customers on little evidence. A kept filter is saved as
`<classifier.data_dir>/relevance/<brand>.safetensors`; the classifier marks the posts it scores over the threshold
(`RELEVANCE_KEY` in their explanation) and the router queues those closed as not relevant, reopenable. Under
`classifier.kind: multilingual` a second filter per brand reads multilingual-e5's vectors (the space the posts in
other languages are scored in), fitted on the clicks in every language e5 reads, English included, and kept as
`<brand>.e5.safetensors` beside the first (`ml_relevance_file`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch.nn import functional

from models.base import RELEVANCE_KEY, Scores
from models.corrections import MIN_HELD_OUT, brand_heads_file, split_held_out
from models.heads import HeadsUnavailable, dump_meta, meta_fields, read_weights, write_weights

FORMAT = "brandmon-relevance-filter"
FOLDER = "relevance"
#: What the file name of a filter on multilingual-e5's vectors adds before ".safetensors".
ML_SUFFIX = ".e5"
#: Held-out precision of "not relevant" a filter must reach to be kept.
DEFAULT_PRECISION_FLOOR = 0.9
#: A brand needs this many "not relevant" clicks, and as many handled posts, before a filter is fitted.
MIN_CLICKS = 20
#: L2 penalty on the standardised weights: a few hundred clicks on 384 dimensions need it.
DEFAULT_L2 = 1e-2
#: Folds of the out-of-fold probabilities the threshold is chosen on.
FOLDS = 5
#: The threshold never goes under this: a post is hidden only when the filter finds "not about us" the likelier side
#: (clicks that separate perfectly would otherwise put it wherever the least namesake-like click fell).
MIN_THRESHOLD = 0.5


def relevance_file(data_dir: str | Path, brand: str) -> Path:
    """Return where the relevance filter learned from `brand`'s clicks lives under `data_dir`."""
    return Path(data_dir).expanduser() / FOLDER / brand_heads_file(data_dir, brand).name


def ml_relevance_file(data_dir: str | Path, brand: str) -> Path:
    """Return where `brand`'s filter on multilingual-e5's vectors lives under `data_dir`, beside `relevance_file`."""
    english = relevance_file(data_dir, brand)
    return english.with_name(english.stem + ML_SUFFIX + english.suffix)


@dataclass(frozen=True, slots=True)
class Click:
    """One labelled post: marked not relevant by a person, or handled by one (relevant)."""

    id: int
    text: str
    not_relevant: bool
    language: str | None = None


@dataclass(slots=True)
class RelevanceMeta:
    """What a relevance filter file records beside its weights."""

    brand: str
    encoder: str
    hidden_size: int
    #: Probability of "not relevant" from which a post is hidden.
    threshold: float
    precision_floor: float
    #: Clicks the filter was fitted on, and held out to check it, per side.
    trained: dict[str, int] = field(default_factory=dict)
    held_out: dict[str, int] = field(default_factory=dict)
    #: Held-out precision and recall of "not relevant" at `threshold`.
    precision: float = 0.0
    recall: float = 0.0
    created_at: str = ""

    def to_json(self) -> str:
        """Serialise for the safetensors metadata block."""
        return dump_meta(self, FORMAT)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> RelevanceMeta:
        """Parse `to_json`'s output, naming the file when it is not one."""
        try:
            meta = cls(**meta_fields(cls, text, FORMAT))
            meta.hidden_size, meta.threshold = int(meta.hidden_size), float(meta.threshold)
            return meta
        except (KeyError, TypeError, ValueError) as exc:
            raise HeadsUnavailable(f"{source}: not a brandmon relevance filter file: {exc}") from exc

    @property
    def clicks(self) -> int:
        """Return how many clicks (both sides, fitted and held out) made the filter."""
        return sum(self.trained.values()) + sum(self.held_out.values())


@dataclass(frozen=True, slots=True)
class RelevanceFilter:
    """A logistic filter on pooled vectors: the probability that a post is not about the brand."""

    weight: torch.Tensor
    bias: torch.Tensor
    meta: RelevanceMeta

    def probability(self, vectors: torch.Tensor) -> torch.Tensor:
        """Return P(not relevant) for each row of `vectors` (n, hidden)."""
        return torch.sigmoid(vectors.float() @ self.weight + self.bias)


def save_filter(path: Path, fitted: RelevanceFilter) -> None:
    """Write a filter and its record into one safetensors file (atomically: a reader never sees half)."""
    partial = path.with_name(path.name + ".partial")
    write_weights(partial, {"weight": fitted.weight, "bias": fitted.bias.reshape(1)}, fitted.meta.to_json())
    partial.replace(path)


def load_filter(path: Path, *, encoder: str | None = None, hidden_size: int | None = None) -> RelevanceFilter:
    """Read a filter file (made for `encoder`, when given); `HeadsUnavailable` says what is wrong with it."""
    tensors, metadata = read_weights(path, kind="relevance filter", hint="run `brandmon train --relevance`")
    meta = RelevanceMeta.from_json(metadata, source=str(path))
    if encoder not in (None, meta.encoder) or hidden_size not in (None, meta.hidden_size):
        raise HeadsUnavailable(
            f"{path}: the relevance filter for {meta.brand!r} was fitted on {meta.encoder} ({meta.hidden_size} "
            f"wide), the classifier runs {encoder} ({hidden_size} wide); delete the file or run "
            "`brandmon train --relevance`")
    weight, bias = tensors.get("weight"), tensors.get("bias")
    if weight is None or bias is None or weight.shape != (meta.hidden_size,) or bias.numel() != 1:
        raise HeadsUnavailable(f"{path}: relevance filter tensors do not fit hidden size {meta.hidden_size}")
    return RelevanceFilter(weight.float(), bias.float().reshape(()), meta)


class RelevanceFilters:
    """The filters of the brands whose clicks taught one; they mark the posts they would hide."""

    def __init__(self) -> None:
        self._filters: dict[str, RelevanceFilter] = {}

    def __len__(self) -> int:
        return len(self._filters)

    @classmethod
    def from_files(cls, paths: Mapping[str, str | Path], *, encoder: str, hidden_size: int) -> RelevanceFilters:
        """Load each brand's filter file; `HeadsUnavailable` names a file that does not fit the encoder."""
        table = cls()
        for brand, path in paths.items():
            table.set(brand, load_filter(Path(path), encoder=encoder, hidden_size=hidden_size))
        return table

    def get(self, brand: str | None) -> RelevanceFilter | None:
        """Return the brand's filter, or None where it has none."""
        return None if brand is None else self._filters.get(brand.casefold())

    def set(self, brand: str, fitted: RelevanceFilter | None) -> None:
        """Filter `brand`'s posts with `fitted` from now on (None: stop filtering them)."""
        if fitted is None:
            self._filters.pop(brand.casefold(), None)
        else:
            self._filters[brand.casefold()] = fitted

    def mark(self, brands: Sequence[str | None], pooled: torch.Tensor | None,
             scores: Sequence[Scores]) -> list[Scores]:
        """Return `scores` with each post its brand's filter would hide marked: `RELEVANCE_KEY` -> [prob, threshold]."""
        out = list(scores)
        if pooled is None:
            return out
        for row, brand in enumerate(brands):
            fitted = self.get(brand)
            if fitted is None:
                continue
            prob = float(fitted.probability(pooled[row : row + 1])[0])
            if prob >= fitted.meta.threshold:
                mark = [f"{prob:.4f}", f"{fitted.meta.threshold:.4f}"]
                out[row] = replace(out[row], explanation={**out[row].explanation, RELEVANCE_KEY: mark})
        return out


def fit_logistic(vectors: torch.Tensor, labels: torch.Tensor, *, l2: float = DEFAULT_L2) -> tuple[torch.Tensor,
                                                                                                  torch.Tensor]:
    """Return (weight, bias) of a class-balanced logistic regression of `labels` (1 = not relevant) on `vectors`.

    The vectors are standardised for the fit (so one penalty suits every dimension) and the scaling is folded back
    into the weights, so the filter reads raw pooled vectors. Full-batch L-BFGS: deterministic.
    """
    x = vectors.float()
    mean, scale = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / scale
    y = labels.float()
    positives = float(y.sum())
    weights = torch.where(y > 0, len(y) / (2 * max(positives, 1.0)), len(y) / (2 * max(len(y) - positives, 1.0)))
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = functional.binary_cross_entropy_with_logits(z @ w + b, y, weight=weights) + l2 * (w**2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    weight = (w.detach() / scale)
    return weight, (b.detach() - (weight * mean).sum())


def precision_recall(probs: torch.Tensor, labels: torch.Tensor, threshold: float) -> tuple[float | None, float]:
    """Return precision (None when nothing is over `threshold`) and recall of "not relevant" at `threshold`."""
    hidden = probs >= threshold
    truly = labels > 0
    hits = int((hidden & truly).sum())
    precision = None if int(hidden.sum()) == 0 else hits / int(hidden.sum())
    return precision, (hits / int(truly.sum()) if int(truly.sum()) else 0.0)


def choose_threshold(probs: torch.Tensor, labels: torch.Tensor, floor: float) -> float | None:
    """Return the lowest threshold from which precision stays at or over `floor` at every higher threshold.

    Candidates are the probabilities of the posts themselves; None when even the highest one misses the floor.
    """
    order = torch.argsort(probs, descending=True)
    hits = torch.cumsum(labels[order].float(), 0)
    precision = hits / torch.arange(1, len(order) + 1)
    chosen: float | None = None
    for rank in range(len(order)):
        if float(precision[rank]) < floor:
            break
        if rank + 1 < len(order) and float(probs[order[rank + 1]]) == float(probs[order[rank]]):
            continue  # ties go over the threshold together
        chosen = float(probs[order[rank]])
    return chosen


def out_of_fold(vectors: torch.Tensor, labels: torch.Tensor, *, folds: int = FOLDS, seed: int = 13,
                l2: float = DEFAULT_L2) -> torch.Tensor:
    """Return each row's probability from a filter fitted on the other folds (stratified, seeded)."""
    fold_of = torch.zeros(len(labels), dtype=torch.long)
    rng = random.Random(seed)
    for side in (0, 1):
        rows = [i for i in range(len(labels)) if int(labels[i]) == side]
        rng.shuffle(rows)
        for position, row in enumerate(rows):
            fold_of[row] = position % folds
    probs = torch.zeros(len(labels))
    for fold in range(folds):
        test = fold_of == fold
        if not bool(test.any()):
            continue
        weight, bias = fit_logistic(vectors[~test], labels[~test], l2=l2)
        probs[test] = torch.sigmoid(vectors[test].float() @ weight + bias)
    return probs


@dataclass(frozen=True, slots=True)
class RelevanceOutcome:
    """What training on one brand's clicks gave, and why the filter was kept or refused."""

    brand: str
    #: Clicks per side: "not_relevant" and "relevant".
    counts: dict[str, int]
    held_out: dict[str, int]
    threshold: float | None
    precision: float | None
    recall: float | None
    filter: RelevanceFilter | None
    #: Why the filter was refused; None when it is kept.
    refusal: str | None = None
    #: Clicks left out because the model does not read their language.
    skipped: int = 0

    @property
    def accepted(self) -> bool:
        """True when the filter reached the precision floor on held-out clicks and can be saved."""
        return self.refusal is None and self.filter is not None


def train_relevance(
    embed: Callable[[Sequence[str]], torch.Tensor],
    brand: str,
    clicks: Sequence[Click],
    *,
    encoder: str,
    hidden_size: int,
    languages: frozenset[str] | None = None,
    holdout: float = 0.25,
    seed: int = 13,
    precision_floor: float = DEFAULT_PRECISION_FLOOR,
    min_clicks: int = MIN_CLICKS,
    l2: float = DEFAULT_L2,
) -> RelevanceOutcome:
    """Fit `brand`'s filter on its clicks through `embed` (one encoder pass) and check it on held-out clicks."""
    readable = [c for c in clicks if c.language is None or languages is None or c.language in languages]
    sides = {"not_relevant": [c for c in readable if c.not_relevant], "relevant": [c for c in readable
                                                                                 if not c.not_relevant]}
    counts = {side: len(rows) for side, rows in sides.items()}

    def refused(why: str, held: Mapping[str, int] | None = None, **figures: float | None) -> RelevanceOutcome:
        return RelevanceOutcome(brand, counts, dict(held or {}), figures.get("threshold"), figures.get("precision"),
                                figures.get("recall"), None, why, len(clicks) - len(readable))

    least = max(min_clicks, MIN_HELD_OUT + FOLDS)
    if min(counts.values()) < least:
        return refused(f"{counts['not_relevant']} not-relevant clicks and {counts['relevant']} handled posts; "
                       f"at least {least} of each are needed to fit a filter and check it")
    held_ids: set[int] = set()
    for rows in sides.values():
        held_ids |= split_held_out([c.id for c in rows], holdout=holdout, seed=seed)
    train = [c for c in readable if c.id not in held_ids]
    held = [c for c in readable if c.id in held_ids]
    held_counts = {"not_relevant": sum(c.not_relevant for c in held), "relevant": sum(not c.not_relevant for c in held)}
    vectors = embed([c.text for c in train] + [c.text for c in held]).float()
    y = torch.tensor([float(c.not_relevant) for c in train + held])
    x_train, y_train, x_held, y_held = vectors[: len(train)], y[: len(train)], vectors[len(train) :], y[len(train) :]
    chosen = choose_threshold(out_of_fold(x_train, y_train, seed=seed, l2=l2), y_train, precision_floor)
    if chosen is None:
        return refused(f"no threshold keeps precision {precision_floor:.2f} on the training clicks", held_counts)
    threshold = max(chosen, MIN_THRESHOLD)
    weight, bias = fit_logistic(x_train, y_train, l2=l2)
    precision, recall = precision_recall(torch.sigmoid(x_held @ weight + bias), y_held, threshold)
    figures = {"threshold": threshold, "precision": precision, "recall": recall}
    if precision is None:
        return refused("the filter hides none of the held-out clicks", held_counts, **figures)
    if precision < precision_floor:
        return refused(f"held-out precision {precision:.3f} is under the floor {precision_floor:.2f}", held_counts,
                       **figures)
    meta = RelevanceMeta(
        brand=brand, encoder=encoder, hidden_size=hidden_size, threshold=round(threshold, 6),
        precision_floor=precision_floor,
        trained={"not_relevant": int(y_train.sum()), "relevant": int(len(y_train) - y_train.sum())},
        held_out=held_counts, precision=round(precision, 4), recall=round(recall, 4),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    return RelevanceOutcome(brand, counts, held_counts, threshold, precision, recall,
                            RelevanceFilter(weight, bias, meta), None, len(clicks) - len(readable))


__all__ = [
    "DEFAULT_PRECISION_FLOOR",
    "MIN_CLICKS",
    "RELEVANCE_KEY",
    "Click",
    "RelevanceFilter",
    "RelevanceFilters",
    "RelevanceMeta",
    "RelevanceOutcome",
    "choose_threshold",
    "fit_logistic",
    "load_filter",
    "ml_relevance_file",
    "out_of_fold",
    "precision_recall",
    "relevance_file",
    "save_filter",
    "train_relevance",
]
