"""A responder's correction of a post's labels, and its effect on the queue at once (README, "Reply queue").

The correction is stored as a labelled example for later training, and the post's urgency is scored again with
the function the classifier uses (`models.urgency.urgency_score`): a corrected sentiment or complaint counts as
certain (probability 1 or 0), what was not corrected keeps the model's probability. The category may be a
built-in one or the brand's own (`brands[].categories`, with its weight; `monitor.queue.categories`). The score
then goes through the decision routing makes (`monitor.pipeline.classify.capped_urgency`, which routing's
`decided_urgency` calls: praise and posts that need no answer stay below "high"), and from it follow the
urgency level (`sla.level_thresholds`), and for the queue item of the post's case (the post's own, or the one a
follow-up was folded into) its level, SLA deadlines and kind, recomputed over the case's posts as routing built
them: the most urgent post's level, deadlines counted from the first customer post since the brand last answered
(a follow-up after a reply: its own time), "respond" when any post needs an answer. The case follows its item's
deadline. One audit row says what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import SlaSettings
from core.storage import Database
from core.storage.case_tables import CasePostRow, CaseRow
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, utcnow
from models.base import SENTIMENTS
from models.urgency import urgency_score
from monitor.pipeline.classify import capped_urgency
from monitor.pipeline.route.cases import facts_of
from monitor.pipeline.route.rules import queue_kind, stored_needs_reply
from monitor.queue.cases_store import case_of_item, case_of_mention
from monitor.queue.cases_sync import refresh_message
from monitor.queue.categories import BrandCategories, ChosenCategory, choose_category, example_name, kept_category
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


def rescore(scores: ClassificationRow, *, sentiment: str | None, complaint: bool | None, category: str,
            weight: float | None = None) -> float:
    """Return the post's urgency score with the corrected labels taken as certain (`weight`: a brand's own)."""
    if sentiment is not None:
        negative = 1.0 if sentiment == "negative" else 0.0
    else:
        negative = float((scores.sentiment_probs or {}).get("negative", 0.0))
    complaint_prob = float(scores.complaint_prob) if complaint is None else (1.0 if complaint else 0.0)
    return urgency_score(category=category, negative_prob=negative, complaint_prob=complaint_prob,
                         severity=int(scores.severity or 0), weight=weight)


def _current(session: Session, mention: MentionRow, scores: ClassificationRow,
             categories: BrandCategories | None) -> ChosenCategory:
    """Return the category the post has now: the model's or a person's earlier brand category stays."""
    name = scores.category or scores.urgency_category
    if name == "other":  # a row from before `category` was stored: a person's brand category is in their example
        given = session.scalar(select(LabelledExampleRow.urgency_category)
                               .where(LabelledExampleRow.mention_id == mention.id)
                               .order_by(LabelledExampleRow.id.desc()).limit(1))
        name = given or name
    return kept_category(mention.brand, name, scores.urgency_category, categories)


@dataclass(frozen=True, slots=True)
class _Post:
    """One customer post of a case, with its scores."""

    mention: MentionRow
    scores: ClassificationRow


def _case_posts(session: Session, case: CaseRow | None, mention: MentionRow,
                scores: ClassificationRow) -> tuple[list[_Post], list[datetime]]:
    """Return the case's classified customer posts, oldest first, and the times the brand posted in it."""
    if case is None:
        return [_Post(mention, scores)], []
    rows = session.execute(
        select(MentionRow, ClassificationRow, CasePostRow.from_brand, CasePostRow.created_at, CasePostRow.author)
        .select_from(CasePostRow)
        .outerjoin(MentionRow, MentionRow.id == CasePostRow.mention_id)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == CasePostRow.mention_id)
        .where(CasePostRow.case_id == case.id)
        .order_by(CasePostRow.created_at, CasePostRow.id)).all()
    posts = [_Post(m, s) for m, s, from_brand, _, author in rows
             if not from_brand and m is not None and s is not None and author == case.customer_handle]
    if all(p.mention.id != mention.id for p in posts):
        posts.append(_Post(mention, scores))
        posts.sort(key=lambda p: p.mention.created_at)
    return posts, [at for _, _, from_brand, at, _ in rows if from_brand]


def _waiting_since(posts: list[_Post], brand_posts: list[datetime]) -> datetime:
    """Return when the customer began waiting: their first post after the brand's last answer before their last."""
    last = posts[-1].mention.created_at
    answered = [at for at in brand_posts if at < last]
    since = max(answered) if answered else None
    return next(p.mention.created_at for p in posts if since is None or p.mention.created_at > since)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _update_item(session: Session, item: QueueItemRow, case: CaseRow | None, mention: MentionRow,
                 scores: ClassificationRow, *, sla: SlaSettings, now: datetime) -> tuple[dict[str, list[Any]],
                                                                                         datetime]:
    """Bring the item's urgency, deadlines and kind in line with its case's posts; return what changed and
    when the customer began waiting."""
    posts, brand_posts = _case_posts(session, case, mention, scores)
    top = max(posts, key=lambda p: p.scores.urgency_score)  # the first of equals, as routing's bump keeps it
    start = _waiting_since(posts, brand_posts)
    first_due, resolve_due = deadlines(start, top.scores.urgency_level, sla)
    kinds = {queue_kind(facts_of(p.mention, p.scores), urgency_level=p.scores.urgency_level) for p in posts}
    own = queue_kind(facts_of(mention, scores), urgency_level=scores.urgency_level)
    kind = "respond" if "respond" in kinds else own or item.kind
    wanted = {"urgency_score": top.scores.urgency_score, "urgency_level": top.scores.urgency_level,
              "urgency_category": top.scores.urgency_category, "kind": kind, "first_response_due": first_due,
              "resolution_due": resolve_due}
    changed = {name: [_jsonable(getattr(item, name)), _jsonable(wanted[name])] for name in _ITEM_FIELDS
               if getattr(item, name) != wanted[name]}
    # the category the item shows (NULL: its urgency category); a brand's own is "other" in `urgency_category`
    shown = (item.category or item.urgency_category, top.scores.category or top.scores.urgency_category)
    if shown[0] != shown[1]:
        changed["category"] = list(shown)
    item.category = top.scores.category
    if changed:
        for name in _ITEM_FIELDS:
            if name in changed:
                setattr(item, name, wanted[name])
        item.version += 1
        item.updated_at = now
    return changed, start


def _update_case(session: Session, case: CaseRow, item: QueueItemRow, start: datetime, *,
                 now: datetime) -> dict[str, Any]:
    """Make the case follow its item's deadline (a thank-you has none); return what changed."""
    before = (case.needs_response_at, case.first_response_due)
    if item.kind == "respond":
        case.needs_response_at, case.first_response_due = start, item.first_response_due
    else:
        case.needs_response_at = case.first_response_due = None
    after = (case.needs_response_at, case.first_response_due)
    detail: dict[str, Any] = {"id": case.id}
    if after != before:
        detail["first_response_due"] = [_jsonable(before[1]), _jsonable(after[1])]
        case.updated_at = now
    refresh_message(session, case, now=now)  # the case's Slack message shows the item's deadline
    return detail


def _item_of(session: Session, mention_id: int) -> tuple[QueueItemRow | None, CaseRow | None]:
    """Return the queue item a post is worked through (its own, or its case's for a follow-up) and the case."""
    item = session.execute(select(QueueItemRow).where(QueueItemRow.mention_id == mention_id)).scalar()
    if item is not None:
        return item, case_of_item(session, item.id)
    case = case_of_mention(session, mention_id)
    if case is None or case.queue_item_id is None:
        return None, case
    return session.get(QueueItemRow, case.queue_item_id), case


def reclassify(
    db: Database,
    mention_id: int,
    actor: str,
    *,
    sla: SlaSettings,
    categories: BrandCategories | None = None,
    sentiment: str | None = None,
    complaint: bool | None = None,
    urgency_category: str | None = None,
    now: datetime | None = None,
    item_id: int | None = None,
    force: bool = False,
) -> LabelledExampleRow:
    """Correct a post's labels, store the correction as a labelled example, and re-rank its case's queue item.

    `sla` is the config's `sla` section (levels and deadlines); `categories` the brands' own categories
    (`monitor.queue.categories.brand_categories(settings.brands)`): a post can be given one of its brand's, at
    the brand's weight. While someone else holds a live claim on the item, only they (or `force`, for admins) may
    correct it. `item_id`, when given, must be the item the post is worked through.
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
        chosen = (choose_category(mention.brand, urgency_category, categories) if urgency_category is not None
                  else _current(session, mention, scores, categories))
        item, case = _item_of(session, mention_id)
        if item_id is not None and (item is None or item.id != item_id):
            raise QueueError(f"post {mention_id} does not belong to queue item {item_id}")
        holder = lease_holder(item, now) if item is not None else None
        if item is not None and holder is not None and holder != actor and not force:
            raise QueueConflict(f"item {item.id} is claimed by {holder}; only they can reclassify it now")
        before = {"sentiment": scores.sentiment, "complaint": scores.complaint,
                  "urgency_category": scores.urgency_category, "model": scores.model}
        if scores.category and scores.category != scores.urgency_category:
            before["category"] = scores.category  # the model's own brand category, "other" above
        example = LabelledExampleRow(
            mention_id=mention.id, brand=mention.brand, network=mention.network,
            language=scores.language or mention.language, text=mention.text, model_labels=before,
            origin="queue", actor=actor, created_at=now,
            sentiment=sentiment if sentiment is not None else scores.sentiment,
            complaint=complaint if complaint is not None else scores.complaint, urgency_category=example_name(chosen),
        )
        session.add(example)
        scores.sentiment, scores.complaint = example.sentiment, example.complaint
        scores.urgency_category, scores.category = chosen.stored, chosen.name
        if urgency_category is not None:  # a person's category counts as certain, as their other labels do
            scores.category_prob = 1.0
        raw = rescore(scores, sentiment=sentiment, complaint=complaint, category=chosen.stored, weight=chosen.weight)
        scores.urgency_score = capped_urgency(
            raw, text=mention.text, sentiment=scores.sentiment, complaint=bool(scores.complaint),
            language=scores.language, needs_reply=stored_needs_reply(scores.explanation), sla=sla)
        scores.urgency_level = sla.level_for(scores.urgency_score)
        after: dict[str, Any] = {"sentiment": example.sentiment, "complaint": example.complaint,
                                 "urgency_category": chosen.name, "urgency_score": scores.urgency_score,
                                 "urgency_level": scores.urgency_level}
        if chosen.stored != chosen.name:
            after["stored_category"] = chosen.stored
        detail: dict[str, Any] = {"before": before, "after": after}
        if item is not None:
            detail["item"], start = _update_item(session, item, case, mention, scores, sla=sla, now=now)
            if case is not None:
                detail["case"] = _update_case(session, case, item, start, now=now)
        session.flush()
        detail["example_id"] = example.id
        audit(session, actor=actor, action="reclassified", at=now, item_id=item.id if item else None,
              mention_id=mention.id, detail=detail)
        return example
