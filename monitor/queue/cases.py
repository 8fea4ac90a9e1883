"""Cases: one per customer conversation, built from the customers' posts and the brand's own replies.

A case is a thread plus the same author's new posts to the brand within `cases.merge_window_h` hours of their
last. The first brand reply after a customer post is the first response; a case resolves when the customer thanks
or confirms after a brand reply, or after `cases.auto_resolve_h` hours of silence following a brand reply, and a
new customer post reopens it. This module is pure: it takes posts in, gives cases and their figures out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.domain import Mention

_THANKS = re.compile(r"\b(thanks?|thank you|thx|ty|cheers|appreciate|that worked|it worked|sorted|solved|fixed)\b",
                     re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Post:
    """One post in a conversation: a customer's or the brand's own."""

    id: str
    author: str
    at: datetime
    text: str
    parent_id: str | None
    from_brand: bool


@dataclass(slots=True)
class Case:
    """One customer conversation and what the brand did about it."""

    id: int
    customer: str
    opened_at: datetime
    posts: list[Post] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    brand_replies: int = 0
    #: True while the last word is the customer's (the case needs a response).
    waiting_on_brand: bool = True

    @property
    def first_response(self) -> timedelta | None:
        """Wall-clock time from the case's first customer post to the brand's first reply."""
        return None if self.first_response_at is None else self.first_response_at - self.opened_at

    @property
    def last_customer_post(self) -> Post:
        """The customer's latest post in the case."""
        return [p for p in self.posts if not p.from_brand][-1]

    @property
    def first_contact_resolution(self) -> bool:
        """Resolved after a single brand reply with no further complaint."""
        return self.resolved_at is not None and self.brand_replies == 1


def post_from_mention(mention: Mention, brand_accounts: Iterable[str] = ()) -> Post:
    """Return the `Post` for `mention`; it is the brand's when marked `from_brand` or written by a brand account."""
    accounts = {a.lstrip("@").lower() for a in brand_accounts}
    own = bool(mention.raw.get("from_brand")) or mention.author_handle.lower() in accounts
    return Post(id=mention.external_id, author=mention.author_handle, at=mention.created_at, text=mention.text,
                parent_id=mention.parent_id, from_brand=own)


def is_thanks(text: str) -> bool:
    """True when a customer's post reads as thanks or a confirmation that it is fixed."""
    return bool(_THANKS.search(text))


def build_cases(posts: Sequence[Post], *, merge_window_h: float = 24.0, auto_resolve_h: float = 72.0,
                now: datetime | None = None) -> list[Case]:
    """Group `posts` (any order) into cases, oldest first; a brand post that answers no known post is ignored."""
    by_id = {p.id: p for p in posts}
    roots: dict[str, str] = {}

    def root_of(post_id: str) -> str:
        seen: list[str] = []
        current = post_id
        while current not in roots:
            seen.append(current)
            parent = by_id[current].parent_id if current in by_id else None
            if parent is None or parent not in by_id or parent in seen:
                roots[current] = current
                break
            current = parent
        root = roots[current]
        for item in seen:
            roots[item] = root
        return root

    merge = timedelta(hours=merge_window_h)
    quiet = timedelta(hours=auto_resolve_h)
    cases: list[Case] = []
    case_of_thread: dict[str, Case] = {}
    latest_of_author: dict[str, Case] = {}
    last_brand_at: dict[int, datetime] = {}
    for post in sorted(posts, key=lambda p: (p.at, p.id)):
        thread = root_of(post.id)
        case = case_of_thread.get(thread)
        if post.from_brand:
            if case is None:
                continue
            _settle_quiet(case, last_brand_at, quiet, post.at)
            case.posts.append(post)
            case.brand_replies += 1
            if case.waiting_on_brand and case.first_response_at is None:
                case.first_response_at = post.at
            case.waiting_on_brand = False
            last_brand_at[case.id] = post.at
            continue
        if case is None:
            earlier = latest_of_author.get(post.author)
            if earlier is not None and post.at - earlier.last_customer_post.at <= merge:
                case = earlier
            else:
                case = Case(id=len(cases) + 1, customer=post.author, opened_at=post.at)
                cases.append(case)
            case.threads.add(thread)
            case_of_thread[thread] = case
        _settle_quiet(case, last_brand_at, quiet, post.at)
        after_brand = case.brand_replies > 0 and not case.waiting_on_brand
        case.posts.append(post)
        latest_of_author[post.author] = case
        if after_brand and is_thanks(post.text):
            if case.resolved_at is None:
                case.resolved_at, case.resolved_by = post.at, "customer"
            continue
        case.resolved_at = case.resolved_by = None  # a new customer post reopens it
        case.waiting_on_brand = True
    end = now or max((p.at for p in posts), default=None)
    if end is not None:
        for case in cases:
            _settle_quiet(case, last_brand_at, quiet, end)
    return cases


def _settle_quiet(case: Case, last_brand_at: dict[int, datetime], quiet: timedelta, at: datetime) -> None:
    """Resolve `case` when its last word was the brand's and `quiet` passed before `at`."""
    brand_at = last_brand_at.get(case.id)
    if case.resolved_at is None and not case.waiting_on_brand and brand_at is not None and at - brand_at >= quiet:
        case.resolved_at, case.resolved_by = brand_at + quiet, "silence"


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class CaseFigures:
    """The digest's figures over a week's cases (times in minutes)."""

    cases: int
    responded: int
    response_rate: float | None
    first_response_p50_min: float | None
    first_response_p90_min: float | None
    resolved: int
    resolution_rate: float | None
    resolution_p50_min: float | None
    first_contact_resolution_rate: float | None
    customers: int

    def as_json(self) -> dict[str, float | int | None]:
        """The figures as the digest's JSON file writes them."""
        return {name: getattr(self, name) for name in self.__slots__}


def case_figures(cases: Sequence[Case]) -> CaseFigures:
    """Response rate, first-response p50/p90, resolution rate and time, first-contact resolution over `cases`."""
    waits = [c.first_response.total_seconds() / 60 for c in cases if c.first_response is not None]
    resolved = [c for c in cases if c.resolved_at is not None]
    durations = [(c.resolved_at - c.opened_at).total_seconds() / 60 for c in resolved if c.resolved_at]
    total = len(cases)
    return CaseFigures(
        cases=total, responded=len(waits), response_rate=len(waits) / total if total else None,
        first_response_p50_min=_percentile(waits, 0.5), first_response_p90_min=_percentile(waits, 0.9),
        resolved=len(resolved), resolution_rate=len(resolved) / total if total else None,
        resolution_p50_min=_percentile(durations, 0.5),
        first_contact_resolution_rate=(sum(c.first_contact_resolution for c in resolved) / total) if total else None,
        customers=len({c.customer for c in cases}))
