"""A responder's correction of a post's labels, and its effect on the queue at once (README, "Reply queue").

The correction is stored as a labelled example for later training, and the post's urgency is scored again with
the function the classifier uses (`models.urgency.urgency_score`): a corrected sentiment or complaint counts as
certain (probability 1 or 0), what was not corrected keeps the model's probability. From the new score follow
the urgency level (`sla.level_thresholds`), the item's SLA deadlines (counted from the post's time, as when it
was queued), and its kind ("respond" / "thank", by the routing rule); the case that holds the item follows its
item's deadline. One audit row says what changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import SlaSettings
from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, utcnow
from models.base import SENTIMENTS, URGENCY_CATEGORIES
from models.urgency import urgency_score
from monitor.pipeline.route.cases import facts_of
from monitor.pipeline.route.rules import queue_kind
from monitor.queue.cases_store import case_of_item
from monitor.queue.cases_sync import refresh_message
from monitor.queue.items import ItemNotFound, QueueConflict, QueueError, audit, lease_holder
from monitor.queue.sla import deadlines

#: The item's fields a reclassification may change, in the order the audit row lists them.
_ITEM_FIELDS = ("urgency_score", "urgency_level", "urgency_category", "kind", "first_response_due",
                "resolution_due")


def _check(sentiment: str | None, complaint: bool | None, urgency_category: str | None) -> None:
    if sentiment is None and complaint is None and urgency_category is None:
        raise QueueError("reclassify needs at least one of sentiment, complaint, urgency category")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise QueueError(f"sentiment must be one of {', '.join(SENTIMENTS)}, not {sentiment!r}")
    if urgency_category is not None and urgency_category not in URGENCY_CATEGORIES:
        raise QueueError(f"urgency category must be one of {', '.join(URGENCY_CATEGORIES)}, not {urgency_category!r}")


def rescore(scores: ClassificationRow, *, sentiment: str | None, complaint: bool | None, category: str) -> float:
    """Return the post's urgency score with the corrected labels taken as certain."""
    if sentiment is not None:
        negative = 1.0 if sentiment == "negative" else 0.0
    else:
        negative = float((scores.sentiment_probs or {}).get("negative", 0.0))
    complaint_prob = float(scores.complaint_prob) if complaint is None else (1.0 if complaint else 0.0)
    return urgency_score(category=category, negative_prob=negative, complaint_prob=complaint_prob,
                         severity=int(scores.severity or 0))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _update_item(session: Session, item: QueueItemRow, mention: MentionRow, scores: ClassificationRow, *,
                 sla: SlaSettings, now: datetime) -> dict[str, list[Any]]:
    """Bring the item's urgency, deadlines and kind in line with the corrected scores; return what changed."""
    first_due, resolve_due = deadlines(mention.created_at, scores.urgency_level, sla)
    kind = queue_kind(facts_of(mention, scores), urgency_level=scores.urgency_level) or item.kind
    wanted = {"urgency_score": scores.urgency_score, "urgency_level": scores.urgency_level,
              "urgency_category": scores.urgency_category, "kind": kind, "first_response_due": first_due,
              "resolution_due": resolve_due}
    changed = {name: [_jsonable(getattr(item, name)), _jsonable(wanted[name])] for name in _ITEM_FIELDS
               if getattr(item, name) != wanted[name]}
    if changed:
        for name in changed:
            setattr(item, name, wanted[name])
        item.version += 1
        item.updated_at = now
    return changed


def _update_case(session: Session, item: QueueItemRow, mention: MentionRow, *, now: datetime) -> dict[str, Any]:
    """Make the case that holds `item` follow its deadline (a thank-you has none); return what changed."""
    case = case_of_item(session, item.id)
    if case is None:
        return {}
    before = (case.needs_response_at, case.first_response_due)
    if item.kind == "respond":
        case.needs_response_at = case.needs_response_at or mention.created_at
        case.first_response_due = item.first_response_due
    else:
        case.needs_response_at = case.first_response_due = None
    after = (case.needs_response_at, case.first_response_due)
    detail: dict[str, Any] = {"id": case.id}
    if after != before:
        detail["first_response_due"] = [_jsonable(before[1]), _jsonable(after[1])]
        case.updated_at = now
    refresh_message(session, case, now=now)  # the case's Slack message shows the item's deadline
    return detail


def reclassify(
    db: Database,
    mention_id: int,
    actor: str,
    *,
    sla: SlaSettings,
    sentiment: str | None = None,
    complaint: bool | None = None,
    urgency_category: str | None = None,
    now: datetime | None = None,
    item_id: int | None = None,
    force: bool = False,
) -> LabelledExampleRow:
    """Correct a post's labels, store the correction as a labelled example, and re-rank the post's queue item.

    `sla` is the config's `sla` section (levels and deadlines). While someone else holds a live claim on the
    post's item, only they (or `force`, for admins) may correct it. `item_id`, when given, must be the post's
    queue item.
    """
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("queue actions need an aware UTC time")
    _check(sentiment, complaint, urgency_category)
    with db.session() as session:
        mention = session.get(MentionRow, mention_id)
        if mention is None:
            raise ItemNotFound(f"no post {mention_id}")
        scores = session.get(ClassificationRow, mention_id)
        if scores is None:
            raise QueueError(f"post {mention_id} has not been classified yet; nothing to correct")
        item = session.execute(select(QueueItemRow).where(QueueItemRow.mention_id == mention_id)).scalar()
        if item_id is not None and (item is None or item.id != item_id):
            raise QueueError(f"post {mention_id} does not belong to queue item {item_id}")
        holder = lease_holder(item, now) if item is not None else None
        if item is not None and holder is not None and holder != actor and not force:
            raise QueueConflict(f"item {item.id} is claimed by {holder}; only they can reclassify it now")
        before = {"sentiment": scores.sentiment, "complaint": scores.complaint,
                  "urgency_category": scores.urgency_category, "model": scores.model}
        new_category = urgency_category if urgency_category is not None else scores.urgency_category
        score = rescore(scores, sentiment=sentiment, complaint=complaint, category=new_category)
        example = LabelledExampleRow(
            mention_id=mention.id, brand=mention.brand, network=mention.network,
            language=scores.language or mention.language, text=mention.text, model_labels=before,
            origin="queue", actor=actor, created_at=now,
            sentiment=sentiment if sentiment is not None else scores.sentiment,
            complaint=complaint if complaint is not None else scores.complaint, urgency_category=new_category,
        )
        session.add(example)
        scores.sentiment, scores.complaint = example.sentiment, example.complaint
        scores.urgency_category, scores.urgency_score = new_category, score
        scores.urgency_level = sla.level_for(score)
        after: dict[str, Any] = {"sentiment": example.sentiment, "complaint": example.complaint,
                                 "urgency_category": new_category, "urgency_score": score,
                                 "urgency_level": scores.urgency_level}
        detail: dict[str, Any] = {"before": before, "after": after}
        if item is not None:
            detail["item"] = _update_item(session, item, mention, scores, sla=sla, now=now)
            case = _update_case(session, item, mention, now=now)
            if case:
                detail["case"] = case
        session.flush()
        detail["example_id"] = example.id
        audit(session, actor=actor, action="reclassified", at=now, item_id=item.id if item else None,
              mention_id=mention.id, detail=detail)
        return example
