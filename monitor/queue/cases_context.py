"""A case beside the post being answered: the whole conversation interleaved, the customer's earlier cases.

The conversation is every post of the case, oldest first: the customer's (and anyone else's in the thread) and
the brand's, each brand post saying who wrote it and whether it went through brandmon or was typed in the
network's app; replies queued through brandmon and not posted yet are shown too, as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import ClassificationRow, MentionRow, ReplyRow

OUTCOMES = {
    ("resolved", "customer"): "resolved: the customer confirmed after our reply",
    ("resolved", "silence"): "resolved: the customer went quiet after our reply",
    ("resolved", "responder"): "resolved by a responder",
    ("resolved", "not_relevant"): "marked not relevant",
    ("replied", None): "replied, waiting for the customer",
    ("open", None): "open, waiting for us",
}
EARLIER_CASES = 10


@dataclass(frozen=True, slots=True)
class ConversationPost:
    """One post of the case: the customer's or the brand's, in time order."""

    at: datetime
    author: str
    text: str
    from_brand: bool
    #: For the brand's posts: "brandmon" or "native" (typed in the network's app); None for a customer's.
    via: str | None
    url: str | None
    sentiment: str | None
    mention_id: int | None
    is_current: bool = False
    #: For a brandmon reply: its status ("posted", or "queued"/"sending"/"failed" while not on the network).
    status: str = "posted"


@dataclass(frozen=True, slots=True)
class EarlierCase:
    """One of the customer's earlier cases with the brand, and how it ended."""

    case_id: int
    opened_at: datetime
    status: str
    outcome: str
    posts: int
    brand_replies: int
    first_response_min: float | None
    first_text: str
    queue_item_id: int | None


def given_name(author_name: str, handle: str) -> str | None:
    """Return the first name the network gives (a display name's first word of letters), or None."""
    name = " ".join(author_name.split())
    if not name or name.lstrip("@").lower() == handle.lstrip("@").lower():
        return None  # no display name, only the handle again
    for word in name.split():
        letters = "".join(ch for ch in word if ch.isalpha() or ch in "-'")
        if len(letters) >= 2 and letters[0].isalpha():
            return letters
    return None


def conversation(session: Session, case_id: int, *, current_mention_id: int | None = None,
                 queue_item_id: int | None = None) -> list[ConversationPost]:
    """Return the case's posts and brandmon's unposted replies to it, oldest first."""
    rows = session.execute(
        select(CasePostRow, MentionRow.text, MentionRow.url, ClassificationRow.sentiment)
        .outerjoin(MentionRow, MentionRow.id == CasePostRow.mention_id)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == CasePostRow.mention_id)
        .where(CasePostRow.case_id == case_id)).all()
    posted = {r.external_id: r for r in session.execute(select(ReplyRow).where(
        ReplyRow.external_id.in_([row.external_id for row, *_ in rows if row.via == "brandmon"]))).scalars()}
    shown = []
    for row, text, url, sentiment in rows:
        reply = posted.get(row.external_id)
        shown.append(ConversationPost(
            at=row.created_at, author=row.author, text=text if text is not None else (reply.text if reply else ""),
            from_brand=row.from_brand, via=row.via, url=url or (reply.url if reply else None), sentiment=sentiment,
            mention_id=row.mention_id, is_current=row.mention_id is not None and row.mention_id == current_mention_id))
    if queue_item_id is not None:
        waiting = session.execute(select(ReplyRow).where(ReplyRow.queue_item_id == queue_item_id,
                                                         ReplyRow.status != "posted")).scalars()
        shown += [ConversationPost(at=r.created_at, author=r.author, text=r.text, from_brand=True, via="brandmon",
                                   url=None, sentiment=None, mention_id=None, status=r.status) for r in waiting]
    return sorted(shown, key=lambda p: (p.at, not p.from_brand))


def earlier_cases(session: Session, case: CaseRow, *, limit: int = EARLIER_CASES) -> list[EarlierCase]:
    """Return the customer's cases with the brand opened before `case`, newest first, with their outcomes."""
    rows = session.execute(
        select(CaseRow).where(CaseRow.brand == case.brand, CaseRow.network == case.network,
                              CaseRow.customer_handle == case.customer_handle, CaseRow.id != case.id,
                              CaseRow.opened_at <= case.opened_at)
        .order_by(CaseRow.opened_at.desc(), CaseRow.id.desc()).limit(limit)).scalars().all()
    found = []
    for row in rows:
        first = session.scalar(select(MentionRow.text).join(CasePostRow, CasePostRow.mention_id == MentionRow.id)
                               .where(CasePostRow.case_id == row.id, CasePostRow.from_brand.is_(False))
                               .order_by(CasePostRow.created_at, CasePostRow.id).limit(1))
        wait = ((row.first_response_at - row.opened_at).total_seconds() / 60
                if row.first_response_at is not None else None)
        outcome = OUTCOMES.get((row.status, row.resolved_by if row.status == "resolved" else None), row.status)
        found.append(EarlierCase(row.id, row.opened_at, row.status, outcome, row.post_count, row.brand_reply_count,
                                 wait, first or "", row.queue_item_id))
    return found


def native_replies_to(session: Session, network: str, handle: str, brand: str) -> list[tuple[CasePostRow, str]]:
    """Return the brand's posts typed in the network's app in this customer's cases, newest first, with text."""
    return [(row, text or "") for row, text in session.execute(
        select(CasePostRow, MentionRow.text)
        .join(CaseRow, CaseRow.id == CasePostRow.case_id)
        .outerjoin(MentionRow, MentionRow.id == CasePostRow.mention_id)
        .where(CaseRow.brand == brand, CaseRow.network == network, CaseRow.customer_handle == handle,
               CasePostRow.from_brand.is_(True), CasePostRow.via == "native")
        .order_by(CasePostRow.created_at.desc()).limit(50)).all()]
