"""Settings for brands, sources and the classifier."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from core.settings.base import _Model


class CategorySettings(_Model):
    """A category of the brand's own, learned at start from its description and examples (no network)."""

    #: Letters, digits, "_" or "-"; a built-in name (billing, outage, ...) replaces that category for the brand.
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = Field(min_length=1, max_length=1000)
    #: Posts of the kind, as customers write them: 5 to 20.
    examples: list[str] = Field(min_length=5, max_length=20)
    #: How urgent the category is on its own, 0 to 1 (safety is 1.0, billing 0.6, other 0.3).
    weight: float = Field(default=0.5, ge=0, le=1)

    @field_validator("examples")
    @classmethod
    def _examples_have_text(cls, value: list[str]) -> list[str]:
        for i, example in enumerate(value):
            if not example.strip():
                raise ValueError(f"examples[{i}] is empty")
        if len({e.strip().casefold() for e in value}) != len(value):
            raise ValueError("examples repeat; give 5 to 20 different posts")
        return value


#: Networks whose posts carry the community they were made in, in their address.
COMMUNITY_NETWORKS = ("reddit",)
_SUBREDDIT = re.compile(r"[A-Za-z0-9_]{2,21}")
#: A Reddit permalink names its subreddit: https://www.reddit.com/r/KestrelMobile/comments/1l5v9x/...
_REDDIT_PLACE = re.compile(r"^https?://(?:[\w-]+\.)?reddit\.com/r/([A-Za-z0-9_]+)/", re.IGNORECASE)


def community_of(network: str, url: str) -> str | None:
    """Return the community (casefolded subreddit name) a post's address is in, None where it says none."""
    if network != "reddit":
        return None
    found = _REDDIT_PLACE.match(url or "")
    return found.group(1).casefold() if found else None


class BrandSettings(_Model):
    """A brand to watch: its boolean query, its own accounts, its competitors, its urgent phrases."""

    name: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=512)
    #: The brand's own account per network, e.g. {x: KestrelMobile}; posts that summon it can be answered. A list
    #: ({x: [AppleSupport, Apple]}) names several accounts: the first is the one brandmon posts from, all count as
    #: the brand. `handles` keeps the first; `extra_handles` receives the others.
    handles: dict[str, str] = Field(default_factory=dict)
    #: The brand's further accounts per network, filled from a list in `handles` (or set directly).
    extra_handles: dict[str, list[str]] = Field(default_factory=dict)
    #: Names of other configured brands this one is compared with in the digest.
    competitors: list[str] = Field(default_factory=list)
    #: A competitor is tracked for share of voice only: no alerts, no queue.
    own: bool = True
    urgency_keywords: dict[str, list[str]] = Field(default_factory=dict)
    #: The language the brand's team writes in (ISO 639-1): saved replies fall back to it, translations go to it.
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    #: The brand's own web domains (kestrel.example): links there are never scam bait.
    domains: list[str] = Field(default_factory=list)
    #: The brand's own categories, learned on the encoder at start (README, "Categories").
    categories: list[CategorySettings] = Field(default_factory=list)
    #: Places that belong to the brand, per network: {reddit: [KestrelMobile]}. Every post there is about the brand,
    #: whether or not it names it ("same here, data dies every evening" in r/KestrelMobile), so the brand query
    #: does not filter it out. Reddit subreddits only.
    communities: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _handle_lists(cls, data: Any) -> Any:
        """Accept a string or a list of strings per network in `handles`."""
        if not isinstance(data, dict) or not isinstance(data.get("handles"), dict):
            return data
        handles: dict[str, Any] = {}
        extra: dict[str, list[str]] = {k: list(v) for k, v in (data.get("extra_handles") or {}).items()}
        for network, value in data["handles"].items():
            if isinstance(value, list):
                if not value or not all(isinstance(v, str) and v for v in value):
                    raise ValueError(f"handles.{network}: a list of account names, at least one")
                handles[network] = value[0]
                extra[network] = [*extra.get(network, []), *value[1:]]
            else:
                handles[network] = value
        return {**data, "handles": handles, "extra_handles": {k: v for k, v in extra.items() if v}}

    def accounts(self, network: str) -> list[str]:
        """Return every account of the brand on `network`, the one brandmon posts from first."""
        first = self.handles.get(network)
        return ([first] if first else []) + list(self.extra_handles.get(network, []))

    def in_community(self, network: str, url: str) -> bool:
        """Return True for a post whose address is in one of the brand's own communities on `network`."""
        names = {name.casefold() for name in self.communities.get(network, [])}
        return bool(names) and community_of(network, url) in names

    @field_validator("communities")
    @classmethod
    def _communities_known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for network, names in value.items():
            if network not in COMMUNITY_NETWORKS:
                raise ValueError(f"communities.{network}: only {', '.join(COMMUNITY_NETWORKS)} communities are known "
                                 "(subreddits)")
            clean = [str(name).strip().removeprefix("r/") for name in names]
            if not clean or any(not _SUBREDDIT.fullmatch(name) for name in clean):
                raise ValueError(f"communities.{network}: subreddit names, e.g. [KestrelMobile], got {names!r}")
            out[network] = clean
        return out

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        from core.query import parse_query  # the one parser every network and the local matcher share

        parse_query(value)  # a QueryError is a ValueError: "unbalanced parenthesis at column 14"
        return value

    @model_validator(mode="after")
    def _category_names_unique(self) -> BrandSettings:
        seen: set[str] = set()
        for i, category in enumerate(self.categories):
            if category.name.casefold() in seen:
                raise ValueError(f"categories[{i}].name: duplicate category {category.name!r}")
            seen.add(category.name.casefold())
        return self

class SourceSettings(_Model):
    """One poller: which network, for which brand, how often."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: str
    brand: str
    enabled: bool = True
    poll_interval_s: float = Field(default=60.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)

class ClassifierSettings(_Model):
    """Which classifier scores posts, and its options."""

    kind: str = "multilingual"
    options: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = Field(default=64, gt=0)
    #: Folder for what brandmon learns from the team: `brandmon train --corrections` keeps each brand's heads
    #: in heads/ under it, and the classifier loads them from there.
    data_dir: str = "brandmon-data"
