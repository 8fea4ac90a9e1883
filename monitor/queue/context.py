"""The customer's context beside a post: its case's whole conversation, the customer's earlier cases with their
outcomes, earlier posts and the brand's replies to them (through brandmon or natively), sentiment over time.

It also records what a responder has seen of a thread (`mark_seen`), so a reply can be refused when the
thread (or its case) moved on after they opened it: a new post, or a reply from the brand in any app.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session, aliased

from core.storage import Database, insert_ignore
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.queue_tables import ThreadViewRow
from core.storage.schema import ClassificationRow, MentionRow, ReplyRow, utcnow
from monitor.queue.cases_context import (
    ConversationPost,
    EarlierCase,
    conversation,
    earlier_cases,
    given_name,
    native_replies_to,
)
from monitor.queue.cases_store import case_of_mention

SENTIMENT_VALUE = {"negative": -1, "neutral": 0, "positive": 1}


@dataclass(frozen=True, slots=True)
class ContextPost:
    """A post shown beside the one being answered, with its sentiment when scored."""

    mention_id: int
    network: str
    author_handle: str
    author_name: str
    text: str
    url: str
    created_at: datetime
    sentiment: str | None
    is_current: bool = False


@dataclass(frozen=True, slots=True)
class ContextReply:
    """A reply the team wrote to this customer (or in this thread), and whether it went out."""

    reply_id: int
    mention_id: int
    author: str
    text: str
    status: str
    url: str | None
    created_at: datetime
    posted_at: datetime | None


@dataclass(frozen=True, slots=True)
class ThreadState:
    """What identifies the thread's state: the newest post in it and the number of replies to it."""

    newest_mention_id: int
    reply_count: int

    def differences(self, seen: ThreadState) -> str:
        """Say in words what changed since `seen`."""
        parts = []
        if self.newest_mention_id != seen.newest_mention_id:
            parts.append("new posts arrived in the thread")
        if self.reply_count != seen.reply_count:
            change = self.reply_count - seen.reply_count
            parts.append(f"{abs(change)} {'reply was' if abs(change) == 1 else 'replies were'} "
                         f"{'added' if change > 0 else 'removed'}")
        return " and ".join(parts) or "nothing"


@dataclass(frozen=True, slots=True)
class CustomerContext:
    """Everything a responder should know about the person before answering."""

    thread: list[ContextPost]
    earlier_posts: list[ContextPost]
    earlier_replies: list[ContextReply]
    #: (time, sentiment) of every scored post by this person, oldest first.
    sentiment_over_time: list[tuple[datetime, str]]
    sentiment_counts: dict[str, int] = field(default_factory=dict)
    #: The post's case, its whole conversation (customer and brand interleaved) and the customer's earlier cases.
    case: CaseRow | None = None
    conversation: list[ConversationPost] = field(default_factory=list)
    earlier_cases: list[EarlierCase] = field(default_factory=list)
    #: The customer's first name where the network gives one (their display name), else None.
    first_name: str | None = None

    @property
    def sentiment_trend(self) -> str:
        """Return the person's sentiment, oldest to newest, as one symbol per post (- 0 +)."""
        return "".join({"negative": "-", "neutral": "0", "positive": "+"}.get(s, "?")
                       for _, s in self.sentiment_over_time)


def _posts(
    session: Session, condition: object, *, current_id: int, limit: int, newest_first: bool
) -> list[ContextPost]:
    order = MentionRow.created_at.desc() if newest_first else MentionRow.created_at
    rows = session.execute(
        select(MentionRow, ClassificationRow.sentiment)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(condition)  # type: ignore[arg-type]
        .order_by(order, MentionRow.id)
        .limit(limit)
    ).all()
    return [ContextPost(m.id, m.network, m.author_handle, m.author_name, m.text, m.url, m.created_at, sentiment,
                        is_current=m.id == current_id) for m, sentiment in rows]


def _thread_condition(mention: MentionRow) -> object:
    if mention.conversation_id:
        return (MentionRow.network == mention.network) & or_(
            MentionRow.conversation_id == mention.conversation_id, MentionRow.external_id == mention.conversation_id)
    return MentionRow.id == mention.id


def _replies(session: Session, condition: object, *, limit: int) -> list[ContextReply]:
    rows = session.execute(
        select(ReplyRow).join(MentionRow, MentionRow.id == ReplyRow.mention_id)
        .where(condition)  # type: ignore[arg-type]
        .order_by(ReplyRow.created_at.desc(), ReplyRow.id.desc()).limit(limit)
    ).scalars().all()
    return [ContextReply(r.id, r.mention_id, r.author, r.text, r.status, r.url, r.created_at, r.posted_at)
            for r in rows]


def _native_replies(session: Session, mention: MentionRow, *, limit: int) -> list[ContextReply]:
    """The brand's replies to this customer typed in the network's app, as replies (status "native")."""
    return [ContextReply(0, row.mention_id or 0, row.author, text, "native", None, row.created_at, row.created_at)
            for row, text in native_replies_to(session, mention.network, mention.author_handle, mention.brand)][:limit]


def customer_context(db: Database, mention_id: int, *, limit: int = 20) -> CustomerContext:
    """Return the case's conversation, the person's earlier cases, posts and replies, their sentiment over time."""
    with db.session() as session:
        mention = session.get(MentionRow, mention_id)
        if mention is None:
            raise LookupError(f"no post {mention_id}")
        same_person = (MentionRow.network == mention.network) & (MentionRow.author_handle == mention.author_handle)
        thread = _posts(session, _thread_condition(mention), current_id=mention.id, limit=200, newest_first=False)
        earlier = _posts(session, same_person & (MentionRow.id != mention.id)
                         & (MentionRow.created_at <= mention.created_at),
                         current_id=mention.id, limit=limit, newest_first=True)
        replies = _replies(session, same_person | _thread_condition(mention), limit=limit)
        replies = sorted(replies + _native_replies(session, mention, limit=limit),
                         key=lambda r: r.created_at, reverse=True)[:limit]
        history = session.execute(
            select(MentionRow.created_at, ClassificationRow.sentiment)
            .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(same_person).order_by(MentionRow.created_at, MentionRow.id).limit(500)
        ).all()
        case = case_of_mention(session, mention.id)
        talk = (conversation(session, case.id, current_mention_id=mention.id, queue_item_id=case.queue_item_id)
                if case is not None else [])
        before = earlier_cases(session, case) if case is not None else []
    over_time = [(when, sentiment) for when, sentiment in history]
    return CustomerContext(thread=thread, earlier_posts=earlier, earlier_replies=replies,
                           sentiment_over_time=over_time,
                           sentiment_counts=dict(Counter(sentiment for _, sentiment in over_time)),
                           case=case, conversation=talk, earlier_cases=before,
                           first_name=given_name(mention.author_name, mention.author_handle))


def thread_state(session: Session, mention: MentionRow) -> ThreadState:
    """Return the current state of the thread (and case) `mention` belongs to: its newest post and its replies,
    the brand's replies typed in the network's app included.

    A reply brandmon posted, read back from the network as the brand's post, changes nothing: it was counted
    as a reply when it was queued.
    """
    condition = _thread_condition(mention)
    answered = aliased(MentionRow)
    read_back = (select(ReplyRow.id).join(answered, answered.id == ReplyRow.mention_id)
                 .where(ReplyRow.external_id == MentionRow.external_id, answered.network == MentionRow.network)
                 .exists())
    newest = session.execute(
        select(func.max(MentionRow.id)).where(condition, ~read_back)  # type: ignore[arg-type]
    ).scalar()
    case = case_of_mention(session, mention.id)
    in_case = (MentionRow.id.in_(select(CasePostRow.mention_id).where(CasePostRow.case_id == case.id))
               if case is not None else false())
    replies = session.execute(  # a reply to any post of the case: it answers the case's latest post
        select(func.count(ReplyRow.id)).join(MentionRow, MentionRow.id == ReplyRow.mention_id)
        .where(or_(condition, in_case), ReplyRow.status != "failed")  # type: ignore[arg-type]
    ).scalar()
    if case is not None:
        newest = max(int(newest or 0), int(session.scalar(
            select(func.max(CasePostRow.mention_id))
            .where(CasePostRow.case_id == case.id, or_(CasePostRow.via.is_(None), CasePostRow.via != "brandmon"))
        ) or 0))
        replies = int(replies or 0) + int(session.scalar(
            select(func.count()).select_from(CasePostRow)
            .where(CasePostRow.case_id == case.id, CasePostRow.via == "native")) or 0)
    return ThreadState(int(newest or mention.id), int(replies or 0))


def current_thread_state(db: Database, mention_id: int) -> ThreadState:
    """Return the state of a post's thread now, recording nothing (what a page shows its reader)."""
    with db.session() as session:
        mention = session.get(MentionRow, mention_id)
        if mention is None:
            raise LookupError(f"no post {mention_id}")
        return thread_state(session, mention)


def mark_seen(db: Database, item_id: int, mention_id: int, actor: str, *, now: datetime | None = None,
              state: ThreadState | None = None) -> ThreadState:
    """Record that `actor` has seen the thread of an item: as it stands now, or as `state` (what their page
    showed them, posted back with the reply form); return the state recorded.
    """
    now = now or utcnow()
    with db.session() as session:
        mention = session.get(MentionRow, mention_id)
        if mention is None:
            raise LookupError(f"no post {mention_id}")
        state = state or thread_state(session, mention)
        inserted = insert_ignore(session, ThreadViewRow, [{
            "queue_item_id": item_id, "actor": actor, "newest_mention_id": state.newest_mention_id,
            "reply_count": state.reply_count, "seen_at": now}], conflict=("queue_item_id", "actor"), returning=("id",))
        if not inserted:
            view = session.execute(select(ThreadViewRow).where(
                ThreadViewRow.queue_item_id == item_id, ThreadViewRow.actor == actor)).scalar_one()
            view.newest_mention_id, view.reply_count, view.seen_at = state.newest_mention_id, state.reply_count, now
    return state


def seen_state(session: Session, item_id: int, actor: str) -> ThreadState | None:
    """Return what `actor` last saw of an item's thread, or None if they never opened it."""
    view = session.execute(select(ThreadViewRow).where(
        ThreadViewRow.queue_item_id == item_id, ThreadViewRow.actor == actor)).scalar()
    return None if view is None else ThreadState(view.newest_mention_id, view.reply_count)
