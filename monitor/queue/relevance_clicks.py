"""The labelled posts a brand's relevance filter learns from, read from the audit log (README, "Learning from
corrections").

A post is *not relevant* when a person marked its item so (web page, Slack button, `brandmon queue not-relevant`);
brandmon's own closings (history queued closed, the filter's own hiding, auto-resolution) are not clicks and never
count. A post is *relevant* when a person handled it: replied to it (through brandmon, or in the network's app),
resolved it, reclassified it, or reopened it. The latest of these decides, so a post reopened after it was marked not
relevant (or after the filter hid it) is relevant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from core.storage import Database
from core.storage.schema import AuditRow, ClassificationRow, MentionRow, QueueItemRow
from models.relevance import Click

#: Audit actions that say the post is about the brand when a person did them.
HANDLED_ACTIONS = frozenset({"marked_replied", "resolved", "reclassified", "reopened", "reply_queued",
                             "reply_posted", "reply_settled"})
NOT_RELEVANT_ACTION = "marked_not_relevant"


def by_person(actor: str) -> bool:
    """True for a person's action (a user, a Slack member); False for brandmon's own ("brandmon", "brandmon demo")."""
    return actor != "brandmon" and not actor.startswith("brandmon ")


def latest_person_actions(session: Any, actions: Iterable[str]) -> dict[int, str]:
    """Return, per post, the latest of `actions` a person took on it (a reply typed in the network's app counts)."""
    target = func.coalesce(QueueItemRow.mention_id, AuditRow.mention_id)
    rows = session.execute(
        select(AuditRow.actor, AuditRow.action, AuditRow.detail, target)
        .outerjoin(QueueItemRow, QueueItemRow.id == AuditRow.queue_item_id)
        .where(AuditRow.action.in_(sorted(actions)), target.is_not(None))
        .order_by(AuditRow.id)).all()
    latest: dict[int, str] = {}
    for actor, action, detail, mention_id in rows:
        native = action == "marked_replied" and (detail or {}).get("via") == "native"  # a responder in the app
        if by_person(actor) or native:
            latest[int(mention_id)] = action
    return latest


def load_clicks(db: Database, brand: str) -> list[Click]:
    """Return `brand`'s labelled posts, one per post, the latest person's action deciding its side."""
    with db.session() as session:
        latest = latest_person_actions(session, HANDLED_ACTIONS | {NOT_RELEVANT_ACTION})
        labels = {mention_id: action == NOT_RELEVANT_ACTION for mention_id, action in latest.items()}
        posts = session.execute(
            select(MentionRow.id, MentionRow.text, func.coalesce(ClassificationRow.language, MentionRow.language))
            .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(MentionRow.brand == brand, MentionRow.id.in_(sorted(labels)))
            .order_by(MentionRow.id)).all() if labels else []
    return [Click(id=row_id, text=text, not_relevant=labels[row_id], language=language)
            for row_id, text, language in posts if text and text.strip()]


__all__ = ["HANDLED_ACTIONS", "NOT_RELEVANT_ACTION", "by_person", "latest_person_actions", "load_clicks"]
