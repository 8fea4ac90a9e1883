"""Categories read from the encoder's embeddings: one prototype per category, built from its description and
examples at start (no network, no training loop), so a brand's own categories work the same as the built-in ones.

A post's pooled vector is compared with every prototype by cosine similarity. A fixed "no category" similarity
competes with them, so a post close to no prototype gets no category. The score of a category is linear in the
mean of the token states, so each token's exact share of it says which words drove it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.explain import top_words
from models.network import Pass
from models.scoring import CategoryPick
from models.taxonomy import BUILTIN_CATEGORIES, CategorySpec

#: Cosine similarity a category's prototype must beat to win over "no category" (chosen on models/checks).
DEFAULT_NULL_SIMILARITY = 0.3
#: Softmax sharpness on cosine similarities.
DEFAULT_SCALE = 20.0


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


class CategoryHead:
    """Prototype head: one unit vector per category on the encoder's pooled output."""

    def __init__(
        self,
        specs: Sequence[CategorySpec],
        prototypes: torch.Tensor,
        *,
        null_similarity: float = DEFAULT_NULL_SIMILARITY,
        scale: float = DEFAULT_SCALE,
        center: torch.Tensor | None = None,
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
        # `center` is subtracted from unit vectors before comparing. Removing the prototypes' mean direction was
        # tried on models/checks/categories.jsonl and lost (macro-F1 0.526 against 0.597), so none by default.
        unit = torch.nn.functional.normalize(prototypes.float(), dim=-1)
        self.center = torch.zeros(unit.shape[1]) if center is None else center.float()
        self.prototypes = torch.nn.functional.normalize(unit - self.center, dim=-1)

    @classmethod
    def build(
        cls,
        specs: Sequence[CategorySpec],
        embed: Callable[[list[str]], torch.Tensor],
        *,
        null_similarity: float = DEFAULT_NULL_SIMILARITY,
        scale: float = DEFAULT_SCALE,
    ) -> CategoryHead:
        """Embed each category's description and examples with `embed` and average them into a prototype."""
        texts: list[str] = []
        owners: list[int] = []
        for index, spec in enumerate(specs):
            for text in (spec.description, *spec.examples):
                if text.strip():
                    texts.append(text)
                    owners.append(index)
        vectors = torch.nn.functional.normalize(embed(texts).float(), dim=-1)
        owner = torch.tensor(owners)
        prototypes = torch.stack([vectors[owner == i].mean(0) for i in range(len(specs))])
        return cls(specs, prototypes, null_similarity=null_similarity, scale=scale)

    def similarities(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return cosine similarity of each centred pooled vector with each prototype, (batch, categories)."""
        unit = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return torch.nn.functional.normalize(unit - self.center, dim=-1) @ self.prototypes.t()

    def score(self, pooled: torch.Tensor) -> CategoryScores:
        """Return per-post probabilities over the categories and "no category"."""
        sims = self.similarities(pooled)
        null = torch.full((sims.shape[0], 1), self.null_similarity)
        probs = torch.softmax(torch.cat([sims, null], dim=1) * self.scale, dim=1)
        return CategoryScores(probs=probs.numpy(), best=sims.argmax(1).numpy())

    def token_shares(self, hidden: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Return each token's exact share of every category's similarity, (batch, tokens, categories).

        With u = pooled / |pooled| and d = |u - center|, similarity = (sum_t h_t / n) . p / (|pooled| d)
        - center . p / d: token t's share is (h_t . p) / (n |pooled| d); the shares sum to the similarity less
        that per-post constant, which no word carries.
        """
        weights = mask.unsqueeze(-1).float()
        count = weights.sum(1, keepdim=True).clamp(min=1.0)
        unit = torch.nn.functional.normalize(pooled.float(), dim=-1)
        norm = pooled.float().norm(dim=-1).clamp(min=1e-6) * (unit - self.center).norm(dim=-1).clamp(min=1e-6)
        return (hidden.float() * weights / count / norm[:, None, None]) @ self.prototypes.t()

    def constant(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return the part of each similarity that no token carries, (batch, categories)."""
        unit = torch.nn.functional.normalize(pooled.float(), dim=-1)
        distance = (unit - self.center).norm(dim=-1).clamp(min=1e-6)
        return -(self.center @ self.prototypes.t())[None, :] / distance[:, None]


def builtin_specs() -> list[CategorySpec]:
    """Return the built-in taxonomy."""
    return list(BUILTIN_CATEGORIES)


@dataclass(frozen=True, slots=True)
class _Scored:
    head: CategoryHead
    scores: CategoryScores
    shares: torch.Tensor


class BrandCategories:
    """The category heads per brand: the built-in taxonomy plus configured categories, each brand's own on top."""

    def __init__(
        self,
        embed: Callable[[list[str]], torch.Tensor],
        *,
        categories: Iterable[CategorySpec | Mapping[str, Any]] = (),
        brand_categories: Mapping[str, Iterable[CategorySpec | Mapping[str, Any]]] | None = None,
    ) -> None:
        self._embed = embed
        self._base = merge_categories(builtin_specs(), parse_categories(categories))
        self._heads: dict[str | None, CategoryHead] = {None: CategoryHead.build(self._base, embed)}
        for brand, specs in (brand_categories or {}).items():
            self.add(brand, specs)

    def add(self, brand: str | None, categories: Iterable[CategorySpec | Mapping[str, Any]]) -> list[str]:
        """Learn categories for `brand` (None: for every post) now; return the names scored for it."""
        specs = parse_categories(categories)
        if brand is None:
            self._base = merge_categories(self._base, specs)
            self._heads[None] = CategoryHead.build(self._base, self._embed)
            return [s.name for s in self._base]
        key = brand.casefold()
        current = self._heads.get(key)
        merged = merge_categories(self._base if current is None else list(current.specs), specs)
        self._heads[key] = CategoryHead.build(merged, self._embed)
        return [s.name for s in merged]

    def head(self, brand: str | None) -> CategoryHead:
        """Return the head that scores `brand`'s posts."""
        if brand is not None:
            found = self._heads.get(brand.casefold())
            if found is not None:
                return found
        return self._heads[None]

    def score(self, brands: Sequence[str | None], result: Pass) -> list[_Scored]:
        """Score every post of a batch with its brand's head; a head shared by several brands runs once."""
        if result.pooled is None:
            raise ValueError("categories read the pooled vector; this pass has none")
        done: dict[int, _Scored] = {}
        out = []
        for brand in brands:
            head = self.head(brand)
            if id(head) not in done:
                shares = head.token_shares(result.hidden, result.mask, result.pooled)
                done[id(head)] = _Scored(head, head.score(result.pooled), shares)
            out.append(done[id(head)])
        return out


def pick_category(
    scored: _Scored,
    row: int,
    *,
    text: str,
    offsets: np.ndarray,
    mask: np.ndarray,
    complaint: bool,
    praise: bool,
    k: int,
) -> CategoryPick:
    """Return the nearest category of post `row` when it beats "no category" and the post is not plain praise.

    Otherwise a complaint is "other" and anything else "none", with the "no category" probability.
    """
    best = int(scored.scores.best[row])
    probs = scored.scores.probs[row]
    if probs[best] >= probs[-1] and not praise:
        share = scored.shares[row].numpy()
        toward = share[:, best] - np.delete(share, best, axis=1).mean(axis=1)
        name = scored.head.names[best]
        words = top_words(text, offsets, mask, toward, k=k)
        return CategoryPick(name, float(probs[best]), tuple(words), scored.head.weights[name])
    return CategoryPick("other" if complaint else "none", float(probs[-1]))
