"""Route: turn each classified mention into Slack alerts (via the outbox) and reply-queue items."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from alerts.routing import RoutingFacts, matching_rules, queue_kind
from alerts.sla import deadlines
from monitor.settings import Settings
from monitor.storage import Database, insert_ignore
from monitor.storage.schema import (
    AlertRow,
    AuditRow,
    ClassificationRow,
    MentionRow,
    OutboxRow,
    QueueItemRow,
    RoutingRow,
)

log = logging.getLogger(__name__)


def alert_payload(mention: MentionRow, scores: ClassificationRow, *, rule: str, item: QueueItemRow | None) -> dict[str, Any]:
    """Return everything a channel needs to render an alert, copied so it never changes under it."""
    return {
        "mention_id": mention.id,
        "rule": rule,
        "brand": mention.brand,
        "network": mention.network,
        "external_id": mention.external_id,
        "url": mention.url,
        "author_handle": mention.author_handle,
        "author_name": mention.author_name,
        "author_followers": mention.author_followers,
        "author_verified": mention.author_verified,
        "text": mention.text,
        "created_at": mention.created_at.isoformat(),
        "language": scores.language,
        "sentiment": scores.sentiment,
        "sentiment_probs": scores.sentiment_probs,
        "complaint": scores.complaint,
        "complaint_prob": scores.complaint_prob,
        "severity": scores.severity,
        "urgency_score": scores.urgency_score,
        "urgency_level": scores.urgency_level,
        "urgency_category": scores.urgency_category,
        "needs_human": scores.needs_human,
        "needs_human_reason": scores.needs_human_reason,
        "explanation": scores.explanation,
        "model": scores.model,
        "queue_item_id": item.id if item is not None else None,
        "first_response_due": item.first_response_due.isoformat() if item is not None else None,
    }


def route_pending(db: Database, settings: Settings, *, now: datetime, batch_size: int = 200) -> int:
    """Route classified mentions that have not been routed yet; return how many were routed."""
    own_brands = {brand.name for brand in settings.brands if brand.own}
    routed = 0
    while True:
        with db.session() as session:
            pending = session.execute(
                select(MentionRow, ClassificationRow)
                .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
                .outerjoin(RoutingRow, RoutingRow.mention_id == MentionRow.id)
                .where(RoutingRow.mention_id.is_(None))
                .order_by(MentionRow.id)
                .limit(batch_size)
            ).all()
            for mention, scores in pending:
                decision = _route_one(session, settings, mention, scores, own=mention.brand in own_brands, now=now)
                insert_ignore(
                    session,
                    RoutingRow,
                    [{"mention_id": mention.id, "routed_at": now, "matched_rules": decision}],
                    conflict=("mention_id",),
                )
        routed += len(pending)
        if len(pending) < batch_size:
            break
    if routed:
        log.info("routed %d mentions", routed)
    return routed


def _route_one(
    session: Any, settings: Settings, mention: MentionRow, scores: ClassificationRow, *, own: bool, now: datetime
) -> dict[str, Any]:
    if not own:
        return {"skipped": "competitor brand: tracked for share of voice only"}
    if not scores.matched_query:
        return {"skipped": "does not match the brand query"}
    facts = RoutingFacts(
        brand=mention.brand,
        network=mention.network,
        sentiment=scores.sentiment,
        complaint=scores.complaint,
        urgency_category=scores.urgency_category,
        urgency_score=scores.urgency_score,
        author_followers=mention.author_followers,
        author_verified=mention.author_verified,
        language=scores.language,
        needs_human=scores.needs_human,
        text=mention.text,
    )
    item = None
    kind = queue_kind(facts, urgency_level=scores.urgency_level)
    if kind is not None:
        first_due, resolve_due = deadlines(mention.created_at, scores.urgency_level, settings.sla)
        inserted = insert_ignore(
            session,
            QueueItemRow,
            [
                {
                    "mention_id": mention.id,
                    "brand": mention.brand,
                    "kind": kind,
                    "status": "new",
                    "urgency_score": scores.urgency_score,
                    "urgency_level": scores.urgency_level,
                    "urgency_category": scores.urgency_category,
                    "first_response_due": first_due,
                    "resolution_due": resolve_due,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            ],
            conflict=("mention_id",),
            returning=("id",),
        )
        item = session.get(QueueItemRow, inserted[0][0]) if inserted else None
        if item is not None:
            session.add(AuditRow(at=now, actor="brandmon", action="queued", queue_item_id=item.id,
                                 mention_id=mention.id, detail={"kind": kind, "level": scores.urgency_level}))
    alerted = []
    if settings.slack.enabled:
        for rule in matching_rules(settings.slack.routes, facts):
            suppressed = _cooldown_reason(session, rule.name, rule.cooldown_s, now)
            outbox_id = None
            if suppressed is None:
                outbox = OutboxRow(
                    kind="slack",
                    channel=rule.channel,
                    dedupe_key=f"slack:{rule.name}:{mention.id}",
                    payload=alert_payload(mention, scores, rule=rule.name, item=item),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                session.add(outbox)
                session.flush()
                outbox_id = outbox.id
                alerted.append(rule.name)
            session.add(AlertRow(mention_id=mention.id, rule=rule.name, channel=rule.channel, created_at=now,
                                 outbox_id=outbox_id, suppressed_reason=suppressed))
    return {"alerts": alerted, "queue": kind}


def _cooldown_reason(session: Any, rule: str, cooldown_s: float, now: datetime) -> str | None:
    if cooldown_s <= 0:
        return None
    last = session.execute(
        select(func.max(AlertRow.created_at)).where(AlertRow.rule == rule, AlertRow.suppressed_reason.is_(None))
    ).scalar()
    if last is not None and last > now - timedelta(seconds=cooldown_s):
        return f"rule {rule!r} is cooling down until {(last + timedelta(seconds=cooldown_s)).isoformat()}"
    return None
