"""Keep a case's one queue item and one Slack message in step with the case (README, "Cases").

A case has at most one queue item: it is created by the first post that needs a responder, and a follow-up
bumps it (back to "new" once it was answered, its SLA counted from the follow-up) instead of making another. A
brand reply moves it to "replied"; the customer's thanks, or silence after the brand's reply, resolves it; a
person resolving the item resolves the case. The case's Slack message carries a summary of the case (posts,
the brand's last reply and from where, status) and is edited through the outbox whenever that changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.outbox import rearm
from core.settings import SlaSettings
from core.storage import insert_ignore
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.schema import AuditRow, ClassificationRow, MentionRow, OutboxRow, QueueItemRow, ReplyRow
from monitor.queue.cases_store import add_brandmon_reply, case_of_item, refold
from monitor.queue.sla import deadlines

OPEN_ITEM = ("new", "claimed", "snoozed")
CLOSED_ITEM = ("resolved", "not_relevant")
#: Characters of the brand's latest reply the case summary carries (Slack shows at most 300 of them).
SUMMARY_TEXT_LIMIT = 500
_WHY = {"customer": "the customer thanked or confirmed after the brand's reply",
        "silence": "no word from the customer after the brand's reply (cases.auto_resolve_h)"}


def _audit(session: Session, action: str, *, at: datetime, item: QueueItemRow, mention_id: int | None,
           detail: dict[str, Any]) -> None:
    session.add(AuditRow(at=at, actor="brandmon", action=action, queue_item_id=item.id,
                         mention_id=mention_id, detail=detail))


def create_item(session: Session, case: CaseRow, mention: MentionRow, scores: ClassificationRow, *, kind: str,
                sla: SlaSettings, now: datetime, history: str | None,
                hidden: str | None = None) -> QueueItemRow | None:
    """Queue the case for a responder; history is queued closed (`not_relevant`, reopenable) so its old
    deadlines breach nothing, and so is a post the brand's relevance filter `hidden` (the reason why)."""
    first_due, resolve_due = deadlines(mention.created_at, scores.urgency_level, sla)
    inserted = insert_ignore(session, QueueItemRow, [{
        "mention_id": mention.id, "brand": mention.brand, "kind": kind,
        "status": "not_relevant" if history or hidden else "new", "urgency_score": scores.urgency_score,
        "urgency_level": scores.urgency_level, "urgency_category": scores.urgency_category,
        "category": scores.category, "first_response_due": first_due, "resolution_due": resolve_due,
        "created_at": now, "updated_at": now, "version": 1}], conflict=("mention_id",), returning=("id",))
    item = session.get(QueueItemRow, inserted[0][0]) if inserted else None
    if item is None:
        return None
    case.queue_item_id = item.id
    if kind == "respond":
        case.needs_response_at, case.first_response_due = mention.created_at, first_due
    _audit(session, "queued", at=now, item=item, mention_id=mention.id,
           detail={"kind": kind, "level": scores.urgency_level, "case": case.id,
                   **({"history": history} if history else {}), **({"hidden": hidden} if hidden else {})})
    return item


def bump_item(session: Session, case: CaseRow, item: QueueItemRow, mention: MentionRow, scores: ClassificationRow,
              *, kind: str | None, sla: SlaSettings, now: datetime) -> None:
    """Fold a live follow-up into the case's item: back to "new" once answered (SLA from the follow-up)."""
    before = item.status
    if scores.urgency_score > item.urgency_score:
        item.urgency_score, item.urgency_level = scores.urgency_score, scores.urgency_level
        item.urgency_category, item.category = scores.urgency_category, scores.category
    first_due, resolve_due = deadlines(mention.created_at, item.urgency_level, sla)  # the case's most urgent level
    answered = item.status in ("replied", *CLOSED_ITEM) or item.first_response_at is not None
    if answered:
        item.first_response_due, item.resolution_due = first_due, resolve_due
        item.first_response_at = item.resolved_at = None
        item.status, item.claimed_by, item.claimed_at, item.lease_until = "new", None, None, None
    else:
        item.first_response_due = min(item.first_response_due, first_due)
        item.resolution_due = min(item.resolution_due, resolve_due)
        if item.status == "snoozed":
            item.status = "new"
    item.snoozed_until = None if item.status == "new" else item.snoozed_until
    if kind == "respond" and item.kind != "respond":
        item.kind = "respond"
        case.needs_response_at, case.first_response_due = mention.created_at, first_due
    item.version += 1
    item.updated_at = now
    _audit(session, "case_follow_up", at=now, item=item, mention_id=mention.id,
           detail={"case": case.id, "from": before, "to": item.status})


def close_item(session: Session, item: QueueItemRow, *, why: str, now: datetime, mention_id: int | None) -> None:
    """Resolve the case's item because the case resolved itself (thanks or silence)."""
    if item.status in CLOSED_ITEM:
        return
    before = item.status
    item.status, item.resolved_at, item.lease_until, item.snoozed_until = "resolved", now, None, None
    item.version += 1
    item.updated_at = now
    _audit(session, "resolved", at=now, item=item, mention_id=mention_id,
           detail={"from": before, "to": "resolved", "why": _WHY.get(why, why)})


def mark_replied(session: Session, item: QueueItemRow, *, at: datetime, now: datetime, mention_id: int | None,
                 via: str) -> None:
    """Move an open item to "replied": the brand answered (in the network's app, or through brandmon)."""
    item.first_response_at = item.first_response_at or at
    if item.status in OPEN_ITEM:
        before = item.status
        item.status, item.snoozed_until = "replied", None
        item.version += 1
        item.updated_at = now
        _audit(session, "marked_replied", at=now, item=item, mention_id=mention_id,
               detail={"from": before, "to": "replied", "via": via})


def after_brand_post(session: Session, case: CaseRow, *, at: datetime, now: datetime, mention_id: int | None,
                     via: str) -> None:
    """Move the case's item on after a brand post: replied, or resolved when silence already settled it."""
    item = session.get(QueueItemRow, case.queue_item_id) if case.queue_item_id else None
    if item is None:
        return
    if case.status == "resolved" and case.resolved_by in _WHY:
        close_item(session, item, why=case.resolved_by, now=now, mention_id=mention_id)
    else:
        mark_replied(session, item, at=at, now=now, mention_id=mention_id, via=via)


def note_item_status(session: Session, item_id: int, status: str, *, now: datetime) -> None:
    """Carry a person's change of an item to its case: resolving resolves it, reopening reopens it."""
    case = case_of_item(session, item_id)
    if case is None:
        return
    if status in CLOSED_ITEM:
        case.status, case.resolved_at = "resolved", now
        case.resolved_by = "responder" if status == "resolved" else "not_relevant"
    elif status == "new" and case.status == "resolved":
        case.status, case.resolved_at, case.resolved_by = "open", None, None
    elif status == "replied" and case.status == "open":
        case.status = "replied"
    else:
        return
    case.updated_at = now
    refresh_message(session, case, now=now)


def record_brand_reply(session: Session, *, queue_item_id: int, mention_id: int, external_id: str | None,
                       author: str, at: datetime | None, now: datetime) -> CaseRow | None:
    """Record a reply brandmon posted to an item as the brand's post in its case, and update the case."""
    case = case_of_item(session, queue_item_id)
    mention = session.get(MentionRow, mention_id)
    if case is None or mention is None or not external_id:
        return None
    add_brandmon_reply(session, case, network=mention.network, external_id=external_id,
                       answers=mention.external_id, author=author, at=at or now)
    refold(session, case, now=now, auto_resolve_h=None)
    refresh_message(session, case, now=now)
    return case


# -- the case's Slack message -------------------------------------------------------------------------------

def _brand_text(session: Session, post: CasePostRow) -> str:
    if post.mention_id is not None:
        return session.scalar(select(MentionRow.text).where(MentionRow.id == post.mention_id)) or ""
    return session.scalar(select(ReplyRow.text).where(ReplyRow.external_id == post.external_id).limit(1)) or ""


def case_summary(session: Session, case: CaseRow) -> dict[str, Any]:
    """Return what the case's Slack message shows about the case: counts, status, the brand's latest reply."""
    last = session.scalar(select(CasePostRow).where(CasePostRow.case_id == case.id, CasePostRow.from_brand)
                          .order_by(CasePostRow.created_at.desc(), CasePostRow.id.desc()).limit(1))
    return {
        "id": case.id,
        "status": case.status,
        "customer": case.customer_handle,
        "posts": case.post_count,
        "brand_replies": case.brand_reply_count,
        "resolved_by": case.resolved_by,
        "opened_at": case.opened_at.isoformat(),
        "first_response_at": case.first_response_at.isoformat() if case.first_response_at else None,
        "last_brand": None if last is None else {
            "author": last.author, "via": last.via, "at": last.created_at.isoformat(),
            "text": _brand_text(session, last)[:SUMMARY_TEXT_LIMIT]},
    }


def refresh_message(session: Session, case: CaseRow, *, now: datetime) -> bool:
    """Re-arm the case's Slack message with its current summary; return True when it changed."""
    if case.outbox_id is None:
        return False
    row = session.get(OutboxRow, case.outbox_id)
    if row is None or row.status == "dead" or row.payload.get("type") != "alert" or row.payload.get("purged"):
        return False  # an incident's message is about many posts; its own refresh keeps it current
    session.flush()
    payload = {**row.payload, "case": case_summary(session, case), "case_id": case.id}
    item = session.get(QueueItemRow, case.queue_item_id) if case.queue_item_id else None
    if item is not None:
        payload["queue_item_id"] = item.id
        payload["first_response_due"] = (item.first_response_due.isoformat() if item.status in OPEN_ITEM
                                         else None)
    if {k: v for k, v in payload.items() if k != "rev"} == {k: v for k, v in row.payload.items() if k != "rev"}:
        return False
    rearm(session, row.id, payload, now=now)
    return True
