"""Cases: one per customer conversation, made of the customers' posts and the brand's own replies.

A case is a thread plus the same author's new posts to the brand within `cases.merge_window_h` hours of their
last. The first brand reply after a customer post is the first response; a case resolves when a person resolves
it, when the customer thanks or confirms after a brand reply, or after `cases.auto_resolve_h` hours of silence
following a brand reply, and a new customer post reopens it. This module is pure: `fold` gives a case's state
from its posts; the router keeps the stored cases current with it (`monitor/queue/cases_store.py`), and the
digest's figures (`case_figures`) are computed over the stored cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_THANKS = re.compile(r"\b(thanks?|thank you|thx|ty|cheers|appreciate[ds]?|that worked|it worked|works now|"
                     r"sorted|solved|fixed|all good|perfect)\b", re.IGNORECASE)
_NOT_THANKS = re.compile(r"\b(thanks? for nothing|no thanks|not (fixed|solved|sorted)|still (not|broken|down))\b",
                         re.IGNORECASE)
#: A whole post that only confirms ("ok", "got it"), once the handles and punctuation are gone.
_CONFIRMS = re.compile(r"(ok|okay|ok then|great|got it|will do|cool|awesome|brilliant|lovely|no worries)",
                       re.IGNORECASE)
_HANDLES = re.compile(r"(?<!\w)[@#]\w+|https?://\S+|[^\w\s']")
#: Resolutions a person made: they stand against the posts (a "not relevant" one even against new posts).
PERSON_RESOLUTIONS = ("responder", "not_relevant")


@dataclass(frozen=True, slots=True)
class Post:
    """One post in a conversation: a customer's or the brand's own."""

    id: str
    author: str
    at: datetime
    text: str
    parent_id: str | None
    from_brand: bool
    sentiment: str | None = None
    complaint: bool | None = None
    #: For the brand's posts: "brandmon" (posted through the outbox) or "native" (typed in the network's app).
    via: str | None = None


def is_thanks(text: str, sentiment: str | None = None) -> bool:
    """True when a customer's post reads as thanks or a confirmation ("ok", "that worked"), and is not negative."""
    if sentiment == "negative" or _NOT_THANKS.search(text):
        return False
    return bool(_THANKS.search(text) or _CONFIRMS.fullmatch(" ".join(_HANDLES.sub(" ", text).split())))


@dataclass(frozen=True, slots=True)
class CaseState:
    """Where a case stands after its posts: status, the brand's first response, the resolution."""

    status: str  # "open" (needs a response), "replied" (waiting for the customer) or "resolved"
    opened_at: datetime
    last_customer_at: datetime
    first_response_at: datetime | None
    last_brand_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    post_count: int
    brand_reply_count: int


def fold(posts: Sequence[Post], *, auto_resolve_h: float | None, now: datetime | None,
         kept: tuple[str, datetime] | None = None) -> CaseState:
    """Return the state of a case from its posts (any order), as of `now`.

    `kept` is a resolution a person made, (resolved_by, when): "responder" stands until a customer posts after
    it, "not_relevant" stands whatever follows. Silence resolves only with `auto_resolve_h` and `now`.
    """
    ordered = sorted(posts, key=lambda p: (p.at, p.id))
    customers = [p for p in ordered if not p.from_brand]
    if not customers:
        raise ValueError("a case needs at least one customer post")
    quiet = timedelta(hours=auto_resolve_h) if auto_resolve_h else None
    status, first_response, last_brand = "open", None, None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    seen_customer = False
    for post in ordered:
        if post.from_brand:
            if seen_customer and first_response is None:
                first_response = post.at
            last_brand = post.at if seen_customer else last_brand
            if seen_customer and status == "open":
                status = "replied"
            continue
        seen_customer = True
        if status != "open" and last_brand is not None and is_thanks(post.text, post.sentiment):
            if status == "replied":
                silent = quiet is not None and post.at - last_brand >= quiet
                status, resolved_by = "resolved", "silence" if silent else "customer"
                resolved_at = last_brand + quiet if silent and quiet is not None else post.at
            continue
        status, resolved_at, resolved_by = "open", None, None  # a new customer post reopens it
    if status == "replied" and quiet is not None and now is not None and last_brand is not None \
            and now - last_brand >= quiet:
        status, resolved_at, resolved_by = "resolved", last_brand + quiet, "silence"
    if kept is not None and status != "resolved":
        by, at = kept
        if by == "not_relevant" or at >= customers[-1].at:
            status, resolved_at, resolved_by = "resolved", at, by
    return CaseState(status=status, opened_at=customers[0].at, last_customer_at=customers[-1].at,
                     first_response_at=first_response, last_brand_at=last_brand, resolved_at=resolved_at,
                     resolved_by=resolved_by, post_count=len(customers),
                     brand_reply_count=len(ordered) - len(customers))


def thread_key(root: str, author: str, *, shared: bool) -> str:
    """Return the conversation key of a thread's post: its root, or "root/author" when the root is not a
    customer's post everyone shares (a brand broadcast, or a post brandmon never stored)."""
    return root if shared else f"{root}/{author.lower()}"


# -- figures ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A stored case with its posts (oldest first), as the digest reads it."""

    id: int
    customer: str
    opened_at: datetime
    status: str
    first_response_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    posts: tuple[Post, ...]
    #: The queue item's kind ("respond" or "thank"); None when no post of the case needed a responder.
    kind: str | None = None
    needs_response_at: datetime | None = None
    first_response_due: datetime | None = None

    @property
    def first_response(self) -> timedelta | None:
        """Wall-clock time from the case's first customer post to the brand's first reply."""
        return None if self.first_response_at is None else self.first_response_at - self.opened_at

    @property
    def customer_posts(self) -> list[Post]:
        """The customers' posts of the case, oldest first."""
        return [p for p in self.posts if not p.from_brand]

    @property
    def brand_replies(self) -> int:
        """How many of the brand's posts the case holds."""
        return sum(p.from_brand for p in self.posts)

    @property
    def first_contact_resolution(self) -> bool:
        """Resolved after a single brand reply with no further complaint."""
        if self.resolved_at is None or self.resolved_by == "not_relevant" or self.brand_replies != 1:
            return False
        reply_at = next(p.at for p in self.posts if p.from_brand)
        return not any(p.at > reply_at and (p.complaint or not is_thanks(p.text, p.sentiment))
                       for p in self.customer_posts)

    @property
    def recovered(self) -> bool | None:
        """For a case that began negative: whether the customer's last post is neutral or positive."""
        posts = self.customer_posts
        if posts[0].sentiment != "negative":
            return None
        return len(posts) > 1 and posts[-1].sentiment in ("neutral", "positive")


@dataclass(frozen=True, slots=True)
class Recovery:
    """A case that began negative and whose customer's last word was not."""

    case_id: int
    customer: str
    first_text: str
    last_text: str
    last_sentiment: str | None
    brand_replies: int


def quantile(values: Sequence[float], share: float) -> float | None:
    """Return the `share` quantile (0-1) of `values`, interpolating linearly between ranks; None when empty."""
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
    customers: int
    responded: int
    response_rate: float | None
    first_response_p50_min: float | None
    first_response_p90_min: float | None
    #: The same, counting only the minutes inside `cases.business_hours`.
    first_response_business_p50_min: float | None
    first_response_business_p90_min: float | None
    resolvable: int
    resolved: int
    resolution_rate: float | None
    resolution_p50_min: float | None
    first_contact_resolutions: int
    first_contact_resolution_rate: float | None
    #: Cases that needed a response (a "respond" queue item) whose deadline passed or that were answered.
    sla_due: int
    sla_breached: int
    sla_breach_rate: float | None
    began_negative: int
    recovered: int
    recovery_share: float | None
    recoveries: list[Recovery] = field(default_factory=list)
    resolved_by: dict[str, int] = field(default_factory=dict)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _sla(case: CaseRecord, now: datetime) -> bool | None:
    """True (breached) / False (met) for a case that needed a response and is due or answered; None otherwise.

    The first-response deadline runs from the post that first needed a response; the brand's first reply in the
    case meets it, even one that came before (the customer then answered the brand's question).
    """
    if case.kind != "respond" or case.first_response_due is None or case.resolved_by == "not_relevant":
        return None
    if case.first_response_at is not None:
        return case.first_response_at > case.first_response_due
    return True if case.first_response_due <= now else None


def case_figures(cases: Sequence[CaseRecord], *, now: datetime,
                 business_minutes: Callable[[datetime, datetime], float] | None = None) -> CaseFigures:
    """Response rate, first response (wall clock and business hours), resolution, first-contact resolution, SLA
    breaches and recovery over `cases`; `business_minutes(start, end)` counts working minutes."""
    answered = [c for c in cases if c.first_response_at is not None]
    waits = [c.first_response.total_seconds() / 60 for c in answered if c.first_response is not None]
    working = ([business_minutes(c.opened_at, c.first_response_at) for c in answered if c.first_response_at]
               if business_minutes is not None else [])
    resolvable = [c for c in cases if c.resolved_by != "not_relevant"]
    resolved = [c for c in resolvable if c.resolved_at is not None]
    durations = [(c.resolved_at - c.opened_at).total_seconds() / 60 for c in resolved if c.resolved_at]
    fcr = sum(c.first_contact_resolution for c in resolved)
    sla = [verdict for verdict in (_sla(c, now) for c in cases) if verdict is not None]
    negative = [c for c in cases if c.recovered is not None]
    recovered = [c for c in negative if c.recovered]
    examples = sorted(recovered, key=lambda c: (-len(c.posts), c.id))[:3]
    resolutions: dict[str, int] = {}
    for case in cases:
        if case.resolved_by:
            resolutions[case.resolved_by] = resolutions.get(case.resolved_by, 0) + 1
    return CaseFigures(
        cases=len(cases), customers=len({c.customer for c in cases}), responded=len(answered),
        response_rate=_share(len(answered), len(cases)),
        first_response_p50_min=quantile(waits, 0.5), first_response_p90_min=quantile(waits, 0.9),
        first_response_business_p50_min=quantile(working, 0.5),
        first_response_business_p90_min=quantile(working, 0.9),
        resolvable=len(resolvable), resolved=len(resolved), resolution_rate=_share(len(resolved), len(resolvable)),
        resolution_p50_min=quantile(durations, 0.5), first_contact_resolutions=fcr,
        first_contact_resolution_rate=_share(fcr, len(resolved)),
        sla_due=len(sla), sla_breached=sum(sla), sla_breach_rate=_share(sum(sla), len(sla)),
        began_negative=len(negative), recovered=len(recovered), recovery_share=_share(len(recovered), len(negative)),
        recoveries=[Recovery(c.id, c.customer, c.customer_posts[0].text, c.customer_posts[-1].text,
                             c.customer_posts[-1].sentiment, c.brand_replies) for c in examples],
        resolved_by=resolutions)
