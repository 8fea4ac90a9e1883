"""Stored cases, kept live as posts are routed: which case a post joins, and the case's state after it.

A customer post joins the case of its thread: the nearest earlier post it answers (up the chain of stored
posts) that is in a case, or a case holding its conversation's key. Else it joins the same author's case with
the brand whose posts are within `cases.merge_window_h` hours of it, even in a new thread; else it opens a case.
A brand post (marked `from_brand` by its source, or written by one of the brand's accounts) joins the case of
the post it answers. The case's status, first response and resolution are then folded from all its posts
(`monitor.queue.cases.fold`), so a post that arrives late still lands in its place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import ClassificationRow, MentionRow
from monitor.queue.cases import PERSON_RESOLUTIONS, CaseState, Post, fold, thread_key

#: Posts walked up a thread at most, looking for the one a post answers that is in a case.
MAX_HOPS = 50


def accounts_of(handles: Iterable[str]) -> frozenset[str]:
    """Return a brand's account names as compared with an author: lower case, no "@"."""
    return frozenset(h.lstrip("@").lower() for h in handles if h)


def is_brand_post(mention: MentionRow, accounts: Collection[str]) -> bool:
    """True for the brand's own post: marked `from_brand` by its source, or written by one of its accounts."""
    return (mention.raw or {}).get("from_brand") is True or mention.author_handle.lstrip("@").lower() in accounts


@dataclass(slots=True)
class Placement:
    """Where a post went: its case, its row there, whether it opened the case, the case's status before."""

    case: CaseRow
    post: CasePostRow
    opened: bool
    before: str | None
    #: The post was in the case already (a reply brandmon posted, now read back from the network).
    known: bool = False


def case_post(session: Session, network: str, external_id: str) -> CasePostRow | None:
    """Return the case row of a post, if it is in a case."""
    return session.scalar(select(CasePostRow).where(CasePostRow.network == network,
                                                    CasePostRow.external_id == external_id))


def _thread(session: Session, mention: MentionRow, accounts: Collection[str]) -> tuple[CasePostRow | None, str]:
    """Return the nearest post up the thread that is in a case (or None) and the post's conversation key."""
    seen = {mention.external_id}
    current, root, shared = mention.parent_id, mention.external_id, True
    for _ in range(MAX_HOPS):
        if not current or current in seen:
            break
        seen.add(current)
        placed = case_post(session, mention.network, current)
        if placed is not None:
            return placed, placed.thread_key or placed.external_id
        parent = session.scalar(select(MentionRow).where(MentionRow.network == mention.network,
                                                         MentionRow.external_id == current))
        if parent is None:  # answers a post brandmon never stored: that post is no one's shared thread
            root, shared = current, False
            break
        root, shared = current, not is_brand_post(parent, accounts)
        current = parent.parent_id
    return None, thread_key(root, mention.author_handle, shared=shared)


def _known(session: Session, mention: MentionRow) -> Placement | None:
    row = case_post(session, mention.network, mention.external_id)
    if row is None:
        return None
    if row.mention_id is None:
        row.mention_id = mention.id  # brandmon's own reply, now read back from the network
    case = session.get(CaseRow, row.case_id)
    assert case is not None
    return Placement(case, row, opened=False, before=case.status, known=True)


def recent_case(session: Session, mention: MentionRow, merge_window_h: float) -> CaseRow | None:
    """Return the author's case with the brand that a new thread of theirs joins: within `merge_window_h` hours."""
    window = timedelta(hours=merge_window_h)
    return session.scalar(
        select(CaseRow)
        .where(CaseRow.brand == mention.brand, CaseRow.network == mention.network,
               CaseRow.customer_handle == mention.author_handle,
               CaseRow.last_customer_at >= mention.created_at - window,
               CaseRow.opened_at <= mention.created_at + window)
        .order_by(CaseRow.last_customer_at.desc(), CaseRow.id.desc()).limit(1))


def place_customer_post(session: Session, mention: MentionRow, *, accounts: Collection[str], merge_window_h: float,
                        may_open: bool, now: datetime) -> Placement | None:
    """Put a customer's post in its case; with `may_open` False it only joins the case of its thread."""
    known = _known(session, mention)
    if known is not None:
        return known
    placed, key = _thread(session, mention, accounts)
    case = session.get(CaseRow, placed.case_id) if placed is not None else None
    if case is None:
        case = session.scalar(
            select(CaseRow).join(CasePostRow, CasePostRow.case_id == CaseRow.id)
            .where(CasePostRow.network == mention.network, CasePostRow.thread_key == key,
                   CaseRow.brand == mention.brand)
            .order_by(CaseRow.id.desc()).limit(1))
    if case is None and may_open:
        case = recent_case(session, mention, merge_window_h)
    opened = case is None
    if case is None:
        if not may_open:
            return None
        case = CaseRow(brand=mention.brand, network=mention.network, customer_handle=mention.author_handle,
                       status="open", opened_at=mention.created_at, last_customer_at=mention.created_at,
                       post_count=0, brand_reply_count=0, updated_at=now)
        session.add(case)
        session.flush()
    before = None if opened else case.status
    row = CasePostRow(case_id=case.id, mention_id=mention.id, network=mention.network,
                      external_id=mention.external_id, parent_external_id=mention.parent_id,
                      author=mention.author_handle, from_brand=False, via=None, created_at=mention.created_at,
                      thread_key=key)
    session.add(row)
    session.flush()
    _adopt_replies(session, case, mention, accounts=accounts, key=key)
    return Placement(case, row, opened=opened, before=before)


def _adopt_replies(session: Session, case: CaseRow, mention: MentionRow, *, accounts: Collection[str],
                   key: str) -> None:
    """Take into the case the brand's replies to this post that were routed before it was stored."""
    query = select(MentionRow).where(MentionRow.network == mention.network,
                                     MentionRow.parent_id == mention.external_id)
    if mention.conversation_id:  # the indexed way to the replies of one conversation
        query = query.where(MentionRow.conversation_id.in_([mention.conversation_id, mention.external_id]))
    for reply in session.scalars(query.limit(50)).all():
        if is_brand_post(reply, accounts) and case_post(session, reply.network, reply.external_id) is None:
            session.add(CasePostRow(case_id=case.id, mention_id=reply.id, network=reply.network,
                                    external_id=reply.external_id, parent_external_id=reply.parent_id,
                                    author=reply.author_handle, from_brand=True, via="native",
                                    created_at=reply.created_at, thread_key=key))
    session.flush()


def place_brand_post(session: Session, mention: MentionRow, *, accounts: Collection[str]) -> Placement | None:
    """Put the brand's own post (typed in the network's app) in the case of the post it answers, if any."""
    known = _known(session, mention)
    if known is not None:
        return known
    placed, _ = _thread(session, mention, accounts)
    case = session.get(CaseRow, placed.case_id) if placed is not None else None
    if case is None or placed is None:
        return None
    before = case.status
    row = CasePostRow(case_id=case.id, mention_id=mention.id, network=mention.network,
                      external_id=mention.external_id, parent_external_id=mention.parent_id,
                      author=mention.author_handle, from_brand=True, via="native", created_at=mention.created_at,
                      thread_key=placed.thread_key)
    session.add(row)
    session.flush()
    return Placement(case, row, opened=False, before=before)


def add_brandmon_reply(session: Session, case: CaseRow, *, network: str, external_id: str, answers: str,
                       author: str, at: datetime) -> CasePostRow:
    """Record a reply brandmon posted as the brand's post in `case` (once: reading it back links it)."""
    existing = case_post(session, network, external_id)
    if existing is not None:
        return existing
    parent = case_post(session, network, answers)
    row = CasePostRow(case_id=case.id, mention_id=None, network=network, external_id=external_id,
                      parent_external_id=answers, author=author, from_brand=True, via="brandmon", created_at=at,
                      thread_key=parent.thread_key if parent is not None else answers)
    session.add(row)
    session.flush()
    return row


def posts_of_cases(session: Session, case_ids: Collection[int]) -> dict[int, list[Post]]:
    """Return the posts of each case, oldest first, with the customers' texts and scores."""
    found: dict[int, list[Post]] = {case_id: [] for case_id in case_ids}
    ordered = sorted(found)
    for start in range(0, len(ordered), 500):  # bounded IN lists
        rows = session.execute(
            select(CasePostRow, MentionRow.text, ClassificationRow.sentiment, ClassificationRow.complaint)
            .outerjoin(MentionRow, MentionRow.id == CasePostRow.mention_id)
            .outerjoin(ClassificationRow, ClassificationRow.mention_id == CasePostRow.mention_id)
            .where(CasePostRow.case_id.in_(ordered[start:start + 500]))
            .order_by(CasePostRow.created_at, CasePostRow.id)).all()
        for row, text, sentiment, complaint in rows:
            found[row.case_id].append(Post(id=row.external_id, author=row.author, at=row.created_at, text=text or "",
                                           parent_id=row.parent_external_id, from_brand=row.from_brand,
                                           sentiment=sentiment, complaint=complaint, via=row.via))
    return found


def refold(session: Session, case: CaseRow, *, now: datetime, auto_resolve_h: float | None) -> CaseState | None:
    """Recompute the case's state from its posts and store it; None when no customer post is left in it."""
    posts = posts_of_cases(session, [case.id])[case.id]
    if not any(not p.from_brand for p in posts):
        return None
    kept = ((case.resolved_by, case.resolved_at) if case.resolved_by in PERSON_RESOLUTIONS
            and case.resolved_at is not None else None)
    state = fold(posts, auto_resolve_h=auto_resolve_h, now=now, kept=kept)
    case.status, case.opened_at, case.last_customer_at = state.status, state.opened_at, state.last_customer_at
    case.first_response_at, case.last_brand_at = state.first_response_at, state.last_brand_at
    case.resolved_at, case.resolved_by = state.resolved_at, state.resolved_by
    case.post_count, case.brand_reply_count, case.updated_at = state.post_count, state.brand_reply_count, now
    return state


def case_of_item(session: Session, item_id: int) -> CaseRow | None:
    """Return the case a queue item is worked through, if any."""
    return session.scalar(select(CaseRow).where(CaseRow.queue_item_id == item_id))


def latest_customer_post(session: Session, case: CaseRow) -> MentionRow | None:
    """Return the case's newest stored post by its customer: the post a reply to the case answers."""
    return session.scalar(
        select(MentionRow).join(CasePostRow, CasePostRow.mention_id == MentionRow.id)
        .where(CasePostRow.case_id == case.id, CasePostRow.from_brand.is_(False),
               CasePostRow.author == case.customer_handle)
        .order_by(CasePostRow.created_at.desc(), CasePostRow.id.desc()).limit(1))


def case_of_mention(session: Session, mention_id: int) -> CaseRow | None:
    """Return the case a stored post is in, if any."""
    return session.scalar(select(CaseRow).join(CasePostRow, CasePostRow.case_id == CaseRow.id)
                          .where(CasePostRow.mention_id == mention_id))


def cases_by_item(session: Session, item_ids: Collection[int]) -> dict[int, CaseRow]:
    """Return queue item id -> its case, for the items among `item_ids` that have one."""
    if not item_ids:
        return {}
    rows = session.scalars(select(CaseRow).where(CaseRow.queue_item_id.in_(sorted(item_ids)))).all()
    return {row.queue_item_id: row for row in rows if row.queue_item_id is not None}
