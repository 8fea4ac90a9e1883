"""Categories read from the encoder's embeddings: one prototype per category, built from its description and
examples at start (no network, no training loop), so a brand's own categories work the same as the built-in ones.

A post's pooled vector is compared with every prototype by cosine similarity. A fixed "no category" similarity
competes with them, so a post close to no prototype gets no category. A brand's corrections (`CategoryFeedback`)
add exemplars: a post close to one that the team put in a category is compared with that post instead of the
prototype, and one close to a post the team took out of a category loses that category and leans to none. The
score of a category is linear in the mean of the token states, so each token's exact share of it says which words
drove it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.category_head import LearnedCategories, LearnedScores
from models.network import Pass
from models.taxonomy import BUILTIN_CATEGORIES, CategorySpec

log = logging.getLogger(__name__)

#: Cosine similarity a category's prototype must beat to win over "no category" (chosen on models/checks).
DEFAULT_NULL_SIMILARITY = 0.3
#: Softmax sharpness on cosine similarities.
DEFAULT_SCALE = 20.0
#: An exemplar from a brand's corrections counts for its category when it is this much closer than the prototype.
EXEMPLAR_MARGIN = 0.2
#: ...and only for posts at least this close to it (cosine similarity).
EXEMPLAR_REACH = 0.8


@dataclass(frozen=True, slots=True)
class CategoryFeedback:
    """What a brand's corrections teach one category it scores: posts that belong to it and posts that do not.

    Given to `BrandCategories.add` beside category specs, it adds to that category's own description and examples
    instead of replacing them; feedback with no posts takes the category's earlier feedback away.
    """

    name: str
    examples: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.examples or self.negatives)


@dataclass(frozen=True, slots=True)
class Exemplars:
    """A brand's corrected posts as unit vectors, each with its category's index and whether it is in it."""

    vectors: torch.Tensor
    owner: torch.Tensor
    positive: torch.Tensor

    def centred(self, center: torch.Tensor) -> Exemplars:
        """Return the exemplars centred like the prototypes they stand beside."""
        return Exemplars(torch.nn.functional.normalize(self.vectors - center, dim=-1), self.owner, self.positive)


def parse_categories(raw: Iterable[CategorySpec | Mapping[str, Any]]) -> list[CategorySpec]:
    """Return category specs from config mappings `{name, description, examples, weight}` (or specs)."""
    specs = []
    for item in raw:
        if isinstance(item, CategorySpec):
            specs.append(item)
            continue
        unknown = set(item) - {"name", "description", "examples", "weight"}
        if unknown:
            raise ValueError(f"category {item.get('name')!r}: unknown keys {sorted(unknown)}")
        examples = item.get("examples") or ()
        if isinstance(examples, str) or not all(isinstance(e, str) for e in examples):
            raise ValueError(f"category {item.get('name')!r}: examples must be a list of strings")
        specs.append(
            CategorySpec(
                name=str(item["name"]),
                description=str(item.get("description") or ""),
                examples=tuple(examples),
                weight=float(item.get("weight", 0.5)),
            )
        )
    return specs


def merge_categories(base: Sequence[CategorySpec], extra: Sequence[CategorySpec]) -> list[CategorySpec]:
    """Return `base` with `extra` added; an extra category with a built-in name replaces it."""
    merged = {spec.name: spec for spec in base}
    for spec in extra:
        merged[spec.name] = spec
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class CategoryScores:
    """Category probabilities for a batch: (batch, categories + 1), the last column is "no category"."""

    probs: np.ndarray
    #: Index of the best category per post (never the "no category" column).
    best: np.ndarray
    #: (batch, categories): a post the team put in that category stood in for its prototype (corrections).
    taught: np.ndarray | None = None
    #: (batch,): the post is close to one the team took out of a category ("no category" rose above its default).
    taken_out: np.ndarray | None = None


class CategoryHead:
    """Prototype head: one unit vector per category on the encoder's pooled output, and the brand's exemplars."""

    def __init__(
        self,
        specs: Sequence[CategorySpec],
        prototypes: torch.Tensor,
        *,
        null_similarity: float = DEFAULT_NULL_SIMILARITY,
        scale: float = DEFAULT_SCALE,
        center: torch.Tensor | None = None,
        exemplars: Exemplars | None = None,
        margin: float = EXEMPLAR_MARGIN,
        reach: float = EXEMPLAR_REACH,
    ) -> None:
        if len(specs) != prototypes.shape[0]:
            raise ValueError("one prototype per category")
        if len({s.name for s in specs}) != len(specs):
            raise ValueError("category names must be unique")
        self.specs = tuple(specs)
        self.names = tuple(s.name for s in specs)
        self.weights = {s.name: s.weight for s in specs}
        self.null_similarity = null_similarity
        self.scale = scale
        self.margin, self.reach = margin, reach
        # `center` is subtracted from unit vectors before comparing. Removing the prototypes' mean direction was
        # tried on models/checks/categories.jsonl and lost (macro-F1 0.526 against 0.597), so none by default.
        unit = torch.nn.functional.normalize(prototypes.float(), dim=-1)
        self.center = torch.zeros(unit.shape[1]) if center is None else center.float()
        self.prototypes = torch.nn.functional.normalize(unit - self.center, dim=-1)
        self.exemplars = None if exemplars is None or not len(exemplars.owner) else exemplars.centred(self.center)

    @classmethod
    def build(
        cls,
        specs: Sequence[CategorySpec],
        embed: Callable[[list[str]], torch.Tensor],
        *,
        null_similarity: float = DEFAULT_NULL_SIMILARITY,
        scale: float = DEFAULT_SCALE,
        feedback: Mapping[str, CategoryFeedback] | None = None,
        margin: float = EXEMPLAR_MARGIN,
        reach: float = EXEMPLAR_REACH,
    ) -> CategoryHead:
        """Embed each category's description and examples with `embed` and average them into a prototype.

        A category's `feedback` posts are embedded in the same pass and kept one by one as its exemplars.
        """
        texts: list[str] = []
        owners: list[int] = []
        signs: list[bool] = []
        for index, spec in enumerate(specs):
            for text in (spec.description, *spec.examples):
                if text.strip():
                    texts.append(text)
                    owners.append(index)
        described = len(texts)
        for index, spec in enumerate(specs):
            taught = (feedback or {}).get(spec.name, CategoryFeedback(spec.name))
            for text, positive in [*((t, True) for t in taught.examples), *((t, False) for t in taught.negatives)]:
                if text.strip():
                    texts.append(text)
                    owners.append(index)
                    signs.append(positive)
        vectors = torch.nn.functional.normalize(embed(texts).float(), dim=-1)
        owner = torch.tensor(owners)
        prototypes = torch.stack([vectors[:described][owner[:described] == i].mean(0) for i in range(len(specs))])
        exemplars = Exemplars(vectors[described:], owner[described:], torch.tensor(signs, dtype=torch.bool))
        return cls(specs, prototypes, null_similarity=null_similarity, scale=scale, exemplars=exemplars,
                   margin=margin, reach=reach)

    def _centred(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the centred unit pooled vectors and their distance from the centre before normalising."""
        shifted = torch.nn.functional.normalize(pooled.float(), dim=-1) - self.center
        return torch.nn.functional.normalize(shifted, dim=-1), shifted.norm(dim=-1).clamp(min=1e-6)

    def _compared(self, unit: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        chosen, offset, _ = self._taught(unit)
        return chosen, offset

    def _taught(self, unit: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Return, per post and category, the vector it is compared with (None: the prototypes) and an offset.

        Only exemplars within `reach` count. A positive one whose similarity less `margin` beats the prototype's
        stands in for it (offset -margin); a negative one whose similarity less `margin` beats "no category" lowers
        its category by the difference.
        """
        offset = torch.zeros(unit.shape[0], len(self.names))
        taught = torch.zeros(unit.shape[0], len(self.names), dtype=torch.bool)
        if self.exemplars is None:
            return None, offset, taught
        chosen = self.prototypes.expand(unit.shape[0], -1, -1).clone()
        base = unit @ self.prototypes.t()
        close = unit @ self.exemplars.vectors.t()
        # a far exemplar says nothing about a post: on this encoder one pair of posts of different categories in
        # twenty is closer than 0.58, and some reach 0.89 (models/checks/categories.jsonl)
        sims = (close - self.margin).masked_fill(close < self.reach, float("-inf"))
        for index in range(len(self.names)):
            mine = self.exemplars.owner == index
            positive, negative = mine & self.exemplars.positive, mine & ~self.exemplars.positive
            if positive.any():
                best, where = sims[:, positive].max(1)
                wins = best > base[:, index]
                chosen[wins, index] = self.exemplars.vectors[positive][where[wins]]
                offset[wins, index] = -self.margin
                taught[:, index] = wins
            if negative.any():
                offset[:, index] -= (sims[:, negative].max(1).values - self.null_similarity).clamp(min=0.0)
        return chosen, offset, taught

    def similarities(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return cosine similarity of each centred pooled vector with each category, (batch, categories)."""
        unit, _ = self._centred(pooled)
        chosen, offset = self._compared(unit)
        if chosen is None:
            return unit @ self.prototypes.t()
        return torch.einsum("bh,bch->bc", unit, chosen) + offset

    def null(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return each post's "no category" similarity, (batch, 1): the fixed one, or a taken-out post's, less margin.

        A post the team took out of a category is an exemplar of no category as well: a post close to it gets none.
        """
        null = torch.full((pooled.shape[0], 1), self.null_similarity)
        if self.exemplars is None or self.exemplars.positive.all():
            return null
        unit, _ = self._centred(pooled)
        close = unit @ self.exemplars.vectors[~self.exemplars.positive].t()
        near = (close - self.margin).masked_fill(close < self.reach, float("-inf")).max(1, keepdim=True).values
        return torch.maximum(null, near)

    def score(self, pooled: torch.Tensor) -> CategoryScores:
        """Return per-post probabilities over the categories and "no category"."""
        sims = self.similarities(pooled)
        null = self.null(pooled)
        probs = torch.softmax(torch.cat([sims, null], dim=1) * self.scale, dim=1)
        taught = self._taught(self._centred(pooled)[0])[2]
        return CategoryScores(probs=probs.numpy(), best=sims.argmax(1).numpy(), taught=taught.numpy(),
                              taken_out=(null[:, 0] > self.null_similarity).numpy())

    def token_shares(self, hidden: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Return each token's exact share of every category's similarity, (batch, tokens, categories).

        With u = pooled / |pooled|, d = |u - center| and p the prototype (or exemplar) compared with, similarity
        = (sum_t h_t / n) . p / (|pooled| d) - center . p / d + offset: token t's share is
        (h_t . p) / (n |pooled| d); the shares sum to the similarity less the rest (`constant`), which no word
        carries.
        """
        weights = mask.unsqueeze(-1).float()
        count = weights.sum(1, keepdim=True).clamp(min=1.0)
        unit, distance = self._centred(pooled)
        norm = pooled.float().norm(dim=-1).clamp(min=1e-6) * distance
        scaled = hidden.float() * weights / count / norm[:, None, None]
        chosen, _ = self._compared(unit)
        return scaled @ self.prototypes.t() if chosen is None else torch.einsum("bth,bch->btc", scaled, chosen)

    def constant(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return the part of each similarity that no token carries, (batch, categories)."""
        unit, distance = self._centred(pooled)
        chosen, offset = self._compared(unit)
        if chosen is None:
            return -(self.center @ self.prototypes.t())[None, :] / distance[:, None]
        return -torch.einsum("h,bch->bc", self.center, chosen) / distance[:, None] + offset


def builtin_specs() -> list[CategorySpec]:
    """Return the built-in taxonomy."""
    return list(BUILTIN_CATEGORIES)


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    head: CategoryHead
    scores: CategoryScores
    shares: torch.Tensor
    #: The learned head's output for the batch (the built-in categories of complaints), when there is one.
    learned: LearnedScores | None = None
    learned_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Geometry:
    """The similarities one encoder's category heads compare against: each encoder spreads its vectors differently."""

    null_similarity: float = DEFAULT_NULL_SIMILARITY
    scale: float = DEFAULT_SCALE
    margin: float = EXEMPLAR_MARGIN
    reach: float = EXEMPLAR_REACH


class BrandCategories:
    """The category heads per brand: the built-in taxonomy plus configured categories, each brand's own on top."""

    def __init__(
        self,
        embed: Callable[[list[str]], torch.Tensor],
        *,
        categories: Iterable[CategorySpec | Mapping[str, Any]] = (),
        brand_categories: Mapping[str, Iterable[CategorySpec | CategoryFeedback | Mapping[str, Any]]] | None = None,
        geometry: Geometry = Geometry(),
        learned: LearnedCategories | None = None,
    ) -> None:
        self._embed = embed
        self._geometry = geometry
        #: The head that gives complaints their built-in category (`models/category_head.py`); None: prototypes.
        self.learned = learned
        self._base = merge_categories(builtin_specs(), parse_categories(categories))
        self._heads: dict[str | None, CategoryHead] = {None: self._build(self._base)}
        self._feedback: dict[str, dict[str, CategoryFeedback]] = {}
        for brand, specs in (brand_categories or {}).items():
            self.add(brand, specs)

    def add(self, brand: str | None,
            categories: Iterable[CategorySpec | CategoryFeedback | Mapping[str, Any]]) -> list[str]:
        """Learn categories for `brand` (None: for every post) now; return the names scored for it.

        `CategoryFeedback` items (a brand's only) add to the category of that name; the others are category specs.
        """
        items = list(categories)
        feedback = [item for item in items if isinstance(item, CategoryFeedback)]
        specs = parse_categories(item for item in items if not isinstance(item, CategoryFeedback))
        if brand is None:
            if feedback:
                raise ValueError("category feedback comes from a brand's corrections: give the brand")
            self._base = merge_categories(self._base, specs)
            self._heads[None] = self._build(self._base)
            return [s.name for s in self._base]
        key = brand.casefold()
        current = self._heads.get(key)
        merged = merge_categories(self._base if current is None else list(current.specs), specs)
        taught = self._feedback.setdefault(key, {})
        names = {s.name for s in merged}
        for item in feedback:
            if item.name not in names:
                log.warning("%s: corrections teach category %r, which is not scored for the brand; ignored",
                            brand, item.name)
            elif item:
                taught[item.name] = item
            else:
                taught.pop(item.name, None)
        self._heads[key] = self._build(merged, feedback=taught)
        return [s.name for s in merged]

    def _build(self, specs: Sequence[CategorySpec],
               feedback: Mapping[str, CategoryFeedback] | None = None) -> CategoryHead:
        g = self._geometry
        return CategoryHead.build(specs, self._embed, null_similarity=g.null_similarity, scale=g.scale,
                                  feedback=feedback, margin=g.margin, reach=g.reach)

    def feedback(self, brand: str) -> tuple[CategoryFeedback, ...]:
        """Return what `brand`'s corrections teach its categories now, by category name."""
        return tuple(sorted(self._feedback.get(brand.casefold(), {}).values(), key=lambda f: f.name))

    def head(self, brand: str | None) -> CategoryHead:
        """Return the head that scores `brand`'s posts."""
        if brand is not None:
            found = self._heads.get(brand.casefold())
            if found is not None:
                return found
        return self._heads[None]

    def score(self, brands: Sequence[str | None], result: Pass) -> list[ScoredBatch]:
        """Score every post of a batch with its brand's head; a head shared by several brands runs once."""
        if result.pooled is None:
            raise ValueError("categories read the pooled vector; this pass has none")
        done: dict[int, ScoredBatch] = {}
        learned = None if self.learned is None else self.learned.score(result.hidden, result.mask, result.pooled)
        names = () if self.learned is None else self.learned.names
        out = []
        for brand in brands:
            head = self.head(brand)
            if id(head) not in done:
                shares = head.token_shares(result.hidden, result.mask, result.pooled)
                done[id(head)] = ScoredBatch(head, head.score(result.pooled), shares, learned, names)
            out.append(done[id(head)])
        return out
