"""Hide the posts a brand's relevance filter reads as not about the brand (README, "Learning from corrections").

The classify step marks a post its brand's filter (`models/relevance.py`, kept by `brandmon train --relevance`)
scores over the filter's threshold. Such a post still goes into a case of its own, but its queue item is queued
closed as `not_relevant` with the reason (a responder reopens it like any closed item), no Slack message is sent,
and an audit row (`FILTERED_ACTION`) counts it for `brandmon sources`. A post that carries on a conversation (it
answers a post, or its author has a case with the brand within `cases.merge_window_h`) is never hidden: the
filter learned from fresh posts, and a follow-up belongs to its case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.storage.schema import AuditRow, ClassificationRow, MentionRow
from models.base import RELEVANCE_KEY
from monitor.pipeline.route.cases import facts_of, place_in_case
from monitor.pipeline.route.messages import RouteBatch
from monitor.pipeline.route.rules import queue_kind
from monitor.queue.cases_store import recent_case, refold
from monitor.queue.cases_sync import create_item

#: The audit action of a post the filter hid (actor "brandmon", so it never counts as a person's click).
FILTERED_ACTION = "filtered_not_relevant"


def stored_mark(explanation: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """Return (probability, threshold) the classify step stored for a post its filter hides, or None."""
    value = (explanation or {}).get(RELEVANCE_KEY)
    try:
        return (float(value[0]), float(value[1])) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _in_conversation(session: Session, mention: MentionRow, merge_window_h: float) -> bool:
    """True when the post answers a post, or its author has a case with the brand it would join."""
    return bool(mention.parent_id) or recent_case(session, mention, merge_window_h) is not None


def hide_not_relevant(batch: RouteBatch, mention: MentionRow, scores: ClassificationRow) -> dict[str, Any] | None:
    """Queue a post the brand's filter hides closed as not relevant, with no alert; None to route it as usual."""
    mark = stored_mark(scores.explanation)
    session, settings, now = batch.session, batch.settings, batch.now
    if mark is None or _in_conversation(session, mention, settings.cases.merge_window_h):
        return None
    probability, threshold = mark
    placement = place_in_case(batch, mention, scores)
    if placement is None:
        return {"skipped": "does not match the brand query"}
    case = placement.case
    refold(session, case, now=now, auto_resolve_h=settings.cases.auto_resolve_h)
    reason = (f"the relevance filter learned from the team's \"not relevant\" clicks reads this post as not about "
              f"{mention.brand} ({probability:.0%}; it hides posts from {threshold:.0%})")
    kind = queue_kind(facts_of(mention, scores), urgency_level=scores.urgency_level)
    item = None
    if kind is not None and case.queue_item_id is None:
        item = create_item(session, case, mention, scores, kind=kind, sla=settings.sla, now=now, history=None,
                           hidden=reason)
    session.add(AuditRow(at=now, actor="brandmon", action=FILTERED_ACTION, queue_item_id=item.id if item else None,
                         mention_id=mention.id, detail={"reason": reason, "probability": probability,
                                                        "threshold": threshold, "case": case.id}))
    batch.cases[case.id] = case
    return {"alerts": [], "queue": kind, "case": case.id, "case_event": "opened" if placement.opened else "joined",
            RELEVANCE_KEY: {"probability": probability, "threshold": threshold, "reason": reason}}


def filtered_since(session: Session, brand: str, since: datetime) -> int:
    """Return how many of `brand`'s posts its relevance filter hid since `since`."""
    return int(session.scalar(
        select(func.count()).select_from(AuditRow).join(MentionRow, MentionRow.id == AuditRow.mention_id)
        .where(AuditRow.action == FILTERED_ACTION, MentionRow.brand == brand, AuditRow.at >= since)) or 0)


__all__ = ["FILTERED_ACTION", "filtered_since", "hide_not_relevant", "stored_mark"]
