"""The urgency categories a responder may give a brand's post: the built-in ones and the brand's own.

A brand's own category (config `brands[].categories`) brings its urgency weight. `urgency_category` keeps the
built-in names the urgency weights and SLA know (a brand's own category is `other` there, README "Precision,
irony, needs-a-reply and categories"); the post's `category` (classifications and queue items) keeps the brand
category's name, which the queue, alerts, routing rules and the digest show, and so does the correction itself
(`labelled_examples`), which is what `brandmon train --corrections` learns the category from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.settings.brands import BrandSettings, CategorySettings
from models.base import URGENCY_CATEGORIES
from monitor.queue.items import QueueError

#: brand name -> the brand's own categories, as `reclassify` takes them (`brand_categories(settings.brands)`).
BrandCategories = Mapping[str, Sequence[CategorySettings]]

#: The longest category name `labelled_examples.urgency_category` (String(32)) keeps; the config allows 64.
STORED_NAME_MAX = 32


@dataclass(frozen=True, slots=True)
class ChosenCategory:
    """A category a responder chose: its name, the built-in name routing stores, and its urgency weight."""

    name: str
    #: The name `urgency_category` stores: the name itself when built-in, else "other" (`category` keeps `name`).
    stored: str
    #: The brand's weight for it; None means the built-in weight (`models.urgency.CATEGORY_WEIGHT`).
    weight: float | None = None


def brand_categories(brands: Iterable[BrandSettings]) -> dict[str, tuple[CategorySettings, ...]]:
    """Return each brand's own categories by brand name (brands without any are left out)."""
    return {brand.name: tuple(brand.categories) for brand in brands if brand.categories}


def _own(brand: str, categories: BrandCategories | None) -> Sequence[CategorySettings]:
    """Return `brand`'s own categories; brand names match as the classifier matches them, ignoring case."""
    for name, own in (categories or {}).items():
        if name.casefold() == brand.casefold():
            return own
    return ()


def own_choices(brand: str, categories: BrandCategories | None) -> tuple[str, ...]:
    """Return the brand's own categories a post can be corrected to (those not named like a built-in one)."""
    return tuple(c.name for c in _own(brand, categories)
                 if c.name not in URGENCY_CATEGORIES and len(c.name) <= STORED_NAME_MAX)


def category_choices(brand: str, categories: BrandCategories | None) -> tuple[str, ...]:
    """Return the categories a post of `brand` can be corrected to: the built-in ones, then the brand's own."""
    return (*URGENCY_CATEGORIES, *own_choices(brand, categories))


def choose_category(brand: str, name: str, categories: BrandCategories | None) -> ChosenCategory:
    """Return the category `name` for a post of `brand`; `QueueError` lists that brand's valid names otherwise."""
    own = {c.name: c for c in _own(brand, categories)}
    if name in own and len(name) > STORED_NAME_MAX:
        raise QueueError(f"{brand}'s category {name!r} has {len(name)} characters and a correction keeps at most "
                         f"{STORED_NAME_MAX}; shorten its name in brands[].categories")
    if name not in own and name not in URGENCY_CATEGORIES:
        raise QueueError(f"urgency category for {brand} must be one of "
                         f"{', '.join(category_choices(brand, categories))}, not {name!r}")
    weight = own[name].weight if name in own else None
    return ChosenCategory(name, name if name in URGENCY_CATEGORIES else "other", weight)


def kept_category(brand: str, name: str, stored: str, categories: BrandCategories | None) -> ChosenCategory:
    """Return the category `name` a post keeps when a correction leaves its category alone (`stored`: its
    `urgency_category`); a brand's own keeps its weight, one the brand no longer defines the built-in weight."""
    if name in URGENCY_CATEGORIES:
        return ChosenCategory(name, name)
    own = {c.name: c for c in _own(brand, categories)}
    return ChosenCategory(name, "other", own[name].weight) if name in own else ChosenCategory(name, stored)


def example_name(chosen: ChosenCategory) -> str:
    """Return the name a labelled example keeps: the category's own, or its stored one when that is too long."""
    return chosen.name if len(chosen.name) <= STORED_NAME_MAX else chosen.stored
