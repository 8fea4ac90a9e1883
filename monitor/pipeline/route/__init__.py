"""Route: turn each classified mention into reply-queue items and Slack messages (via the outbox).

For each own-brand post the matching rules are found (one message per channel at most). A post whose story is
already an open incident of that rule joins it: the incident's message is re-armed to be edited (chat.update,
once per batch) and the post goes in its thread. Any other post opens a new incident, posted as a normal
alert; cooldowns (per rule) and quiet hours (per channel) apply to new messages only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.outbox import enqueue, rearm
from core.settings import RouteRule, Settings
from core.storage import Database, insert_ignore
from core.storage.incident_tables import IncidentRow
from core.storage.schema import (
    AlertRow,
    AuditRow,
    ClassificationRow,
    MentionRow,
    OutboxRow,
    QueueItemRow,
    RoutingRow,
)
from monitor.pipeline.claim import Statement, claim_batches
from monitor.pipeline.route.incidents import (
    IncidentIndex,
    Match,
    Signature,
    add_member,
    incident_payload,
    new_incident,
    signature,
)
from monitor.pipeline.route.rules import RoutingFacts, history_reason, matching_rules, queue_kind, quiet_decision
from monitor.queue.sla import deadlines

log = logging.getLogger(__name__)


#: What an alert copies from the post and from its scores, so the message never changes under it.
MENTION_FIELDS = ("brand", "network", "external_id", "url", "author_handle", "author_name", "author_followers",
                  "author_verified", "text")
SCORE_FIELDS = ("language", "sentiment", "sentiment_probs", "complaint", "complaint_prob", "severity",
                "urgency_score", "urgency_level", "urgency_category", "needs_human", "needs_human_reason",
                "explanation", "model")


def alert_payload(
    mention: MentionRow, scores: ClassificationRow, *, rule: str, item: QueueItemRow | None
) -> dict[str, Any]:
    """Return everything a channel needs to render an alert, copied so it never changes under it."""
    return {
        "type": "alert",
        "mention_id": mention.id,
        "rule": rule,
        **{name: getattr(mention, name) for name in MENTION_FIELDS},
        "created_at": mention.created_at.isoformat(),
        **{name: getattr(scores, name) for name in SCORE_FIELDS},
        "queue_item_id": item.id if item is not None else None,
        "first_response_due": item.first_response_due.isoformat() if item is not None else None,
    }


class _Batch:
    """What one routing batch shares: its session, the incident index, and the incidents it touched."""

    def __init__(self, session: Session, settings: Settings, now: datetime, *, lock: bool) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.rules = {rule.name: rule for rule in settings.slack.routes}
        self.incidents = IncidentIndex(session, settings.slack)
        self.touched: dict[int, IncidentRow] = {}
        self.lock = lock
        self._locked: set[str] = set()

    def serialise(self, brand: str) -> None:
        """On PostgreSQL, let one transaction at a time match a brand's posts to incidents (parallel routers)."""
        if self.lock and brand not in self._locked:
            self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"incident:{brand}"})
            self._locked.add(brand)

    def rule(self, incident: IncidentRow) -> RouteRule:
        """Return the rule an incident was opened by (its defaults when the rule left the config)."""
        return self.rules.get(incident.rule) or RouteRule(name=incident.rule, channel=incident.channel)


def route_pending(
    db: Database, settings: Settings, *, now: datetime, batch_size: int = 200, skip_locked: bool = False
) -> int:
    """Route classified mentions that have not been routed yet; return how many were routed.

    With `skip_locked` on PostgreSQL each batch is locked (`FOR UPDATE SKIP LOCKED`) while it is routed, so
    several workers route different mentions at the same time.
    """
    own_brands = {brand.name for brand in settings.brands if brand.own}
    routed = 0

    def unrouted(after_id: int) -> Statement:
        return (
            select(MentionRow, ClassificationRow)
            .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .outerjoin(RoutingRow, RoutingRow.mention_id == MentionRow.id)
            .where(RoutingRow.mention_id.is_(None), MentionRow.id > after_id)
            .order_by(MentionRow.id)
        )

    claims = claim_batches(db, unrouted, batch_size=batch_size, skip_locked=skip_locked, row_id=lambda row: row[0].id)
    for session, pending in claims:
        batch = _Batch(session, settings, now, lock=db.dialect == "postgresql")
        for mention, scores in pending:
            decision = _route_one(batch, mention, scores, own=mention.brand in own_brands)
            insert_ignore(
                session,
                RoutingRow,
                [{"mention_id": mention.id, "routed_at": now, "matched_rules": decision}],
                conflict=("mention_id",),
            )
        _refresh_incidents(batch)
        routed += len(pending)
    if routed:
        log.info("routed %d mentions", routed)
    return routed


def _facts(mention: MentionRow, scores: ClassificationRow) -> RoutingFacts:
    return RoutingFacts(
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


def _queue_item(session: Session, settings: Settings, mention: MentionRow, scores: ClassificationRow, kind: str,
                now: datetime, history: str | None) -> QueueItemRow | None:
    """Queue the post; history is queued closed (`not_relevant`, reopenable) so its old deadlines breach nothing."""
    first_due, resolve_due = deadlines(mention.created_at, scores.urgency_level, settings.sla)
    inserted = insert_ignore(
        session,
        QueueItemRow,
        [
            {
                "mention_id": mention.id,
                "brand": mention.brand,
                "kind": kind,
                "status": "not_relevant" if history else "new",
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
        session.add(
            AuditRow(
                at=now,
                actor="brandmon",
                action="queued",
                queue_item_id=item.id,
                mention_id=mention.id,
                detail={"kind": kind, "level": scores.urgency_level, **({"history": history} if history else {})},
            )
        )
    return item


def _route_one(batch: _Batch, mention: MentionRow, scores: ClassificationRow, *, own: bool) -> dict[str, Any]:
    if (mention.raw or {}).get("from_brand") is True:
        return {"skipped": "the brand's own post: a reply in its case, never a customer's (README, \"Cases\")"}
    if not own:
        return {"skipped": "competitor brand: tracked for share of voice only"}
    if not scores.matched_query:
        return {"skipped": "does not match the brand query"}
    settings, session, now = batch.settings, batch.session, batch.now
    facts = _facts(mention, scores)
    kind = queue_kind(facts, urgency_level=scores.urgency_level)
    history = history_reason(mention.created_at, now, settings.slack)
    item = _queue_item(session, settings, mention, scores, kind, now, history) if kind is not None else None
    decision: dict[str, Any] = {"alerts": [], "queue": kind, **({"history": history} if history else {})}
    rules = matching_rules(settings.slack.routes, facts) if settings.slack.enabled else []
    for rule in rules if history else []:  # history is recorded, never sent
        _record_alert(session, mention, rule.name, rule.channel, now, None, history)
    if not rules or history:
        return decision
    sig = signature(
        text=mention.text,
        network=mention.network,
        external_id=mention.external_id,
        raw=mention.raw or {},
        category=scores.urgency_category,
        group_categories=settings.slack.incident_categories,
        parent_id=mention.parent_id,
    )
    batch.serialise(mention.brand)
    payload = alert_payload(mention, scores, rule="", item=item)
    payload["queue_url"] = settings.slack.queue_url
    outcomes: dict[str, dict[str, Any]] = {}
    matches = batch.incidents.find(mention.brand, sig, mention.created_at)
    if matches:  # the story is already told somewhere: it grows there, whichever rule this post matched
        for match in matches:
            if match.incident.rule not in outcomes:
                outcomes[match.incident.rule] = _join(batch, match, mention, scores, dict(payload), sig)
    else:
        channels: set[str] = set()
        for rule in rules:
            if rule.channel not in channels:  # one message per channel, from the first rule that names it
                channels.add(rule.channel)
                outcomes[rule.name] = _open(batch, rule, mention, scores, dict(payload), sig)
    decision["alerts"] = [name for name, out in outcomes.items() if out.get("outbox_id") and not out.get("note")]
    decision["incidents"] = {name: out["incident"] for name, out in outcomes.items() if out.get("incident")}
    notes = {name: out["note"] for name, out in outcomes.items() if out.get("note")}
    if notes:
        decision["notes"] = notes
    return decision


def _join(
    batch: _Batch, match: Match, mention: MentionRow, scores: ClassificationRow, payload: dict[str, Any], sig: Signature
) -> dict[str, Any]:
    """Add the post to an open incident; reply in its thread unless there is a reason not to."""
    session, now = batch.session, batch.now
    incident, rule = match.incident, batch.rule(match.incident)
    quiet = quiet_decision(batch.settings.slack, incident.channel, now, scores.urgency_score)
    member = add_member(
        session,
        incident,
        mention_id=mention.id,
        post_at=mention.created_at,
        urgency=scores.urgency_score,
        sig=sig,
        reason=match.reason,
        now=now,
    )
    batch.incidents.add(incident, sig)
    batch.touched[incident.id] = incident
    why_not = _no_thread_reason(incident, rule, sig, batch.settings.slack.incident_thread_max, quiet.drop)
    outbox_id = None
    if why_not is None:
        payload.update(
            rule=incident.rule,
            compact=True,
            incident_id=incident.id,
            join_reason=match.reason,
            after=incident.root_outbox_id,
        )
        outbox_id = _enqueue(
            session, incident.rule, incident.channel, mention, payload, now=now, hold_until=quiet.hold_until
        )
        member.outbox_id = outbox_id
        incident.thread_replies += 1
    if quiet.hold_until is None and incident.root_outbox_id is not None:
        _release_held(session, incident.root_outbox_id, now)  # an urgent post wakes a held incident
    _record_alert(session, mention, incident.rule, incident.channel, now, outbox_id,
                  None if outbox_id else f"in incident #{incident.id}: {why_not}")
    return {"incident": incident.id, "outbox_id": outbox_id, "note": quiet.reason if quiet.hold_until else None}


def _record_alert(session: Any, mention: MentionRow, rule: str, channel: str, now: datetime,
                  outbox_id: int | None, suppressed_reason: str | None) -> None:
    """Record that `rule` sent (or held back, with the reason) an alert about `mention` to `channel`."""
    session.add(AlertRow(mention_id=mention.id, rule=rule, channel=channel, created_at=now, outbox_id=outbox_id,
                         suppressed_reason=suppressed_reason))


def _open(
    batch: _Batch,
    rule: RouteRule,
    mention: MentionRow,
    scores: ClassificationRow,
    payload: dict[str, Any],
    sig: Signature,
) -> dict[str, Any]:
    """Open a new incident with this post as its first member and queue its message."""
    session, now = batch.session, batch.now
    quiet = quiet_decision(batch.settings.slack, rule.channel, now, scores.urgency_score)
    refused = _cooldown_reason(session, rule, now, scores.urgency_level) or (quiet.reason if quiet.drop else None)
    if refused is not None:
        _record_alert(session, mention, rule.name, rule.channel, now, None, refused)
        return {"note": refused}
    incident = new_incident(
        session,
        brand=mention.brand,
        rule=rule.name,
        channel=rule.channel,
        category=scores.urgency_category,
        post_at=mention.created_at,
        now=now,
        lead_mention_id=mention.id,
    )
    add_member(
        session,
        incident,
        mention_id=mention.id,
        post_at=mention.created_at,
        urgency=scores.urgency_score,
        sig=sig,
        reason="first post",
        now=now,
    )
    batch.incidents.add(incident, sig)
    payload.update(rule=rule.name, incident_id=incident.id)
    incident.root_outbox_id = _enqueue(
        session, rule.name, rule.channel, mention, payload, now=now, hold_until=quiet.hold_until
    )
    _record_alert(session, mention, rule.name, rule.channel, now, incident.root_outbox_id, None)
    return {
        "incident": incident.id,
        "outbox_id": incident.root_outbox_id,
        "note": quiet.reason if quiet.hold_until else None,
    }


def _no_thread_reason(
    incident: IncidentRow, rule: RouteRule, sig: Signature, thread_max: int, drop: bool
) -> str | None:
    if incident.root_outbox_id is None:
        return "the incident has no message"
    if incident.status != "open":
        return f"the incident is {incident.status}"
    if sig.repost:
        return "a repost only adds to the count"
    if not rule.thread_replies:
        return "thread replies are off for this rule"
    if incident.thread_replies >= thread_max:
        return f"the thread already has {thread_max} replies"
    return "quiet hours" if drop else None


def _enqueue(
    session: Session,
    rule: str,
    channel: str,
    mention: MentionRow,
    payload: dict[str, Any],
    *,
    now: datetime,
    hold_until: datetime | None,
) -> int:
    outbox_id, _ = enqueue(
        session, kind="slack", channel=channel, dedupe_key=f"slack:{rule}:{mention.id}", payload=payload,
        now=now, not_before=hold_until,
    )
    return outbox_id


def _release_held(session: Session, outbox_id: int, now: datetime) -> None:
    row = session.get(OutboxRow, outbox_id)
    if row is not None and row.status == "pending" and row.next_attempt_at > now:
        row.next_attempt_at = now


def _refresh_incidents(batch: _Batch) -> None:
    """Re-arm each grown incident's message once per batch, so Slack sees one edit per batch, not per post."""
    batch.session.flush()
    for incident in batch.touched.values():
        if incident.root_outbox_id is None or incident.member_count < 2:
            continue
        rearm(
            batch.session,
            incident.root_outbox_id,
            incident_payload(batch.session, incident, batch.settings.slack),
            now=batch.now,
        )


def _cooldown_reason(session: Session, rule: RouteRule, now: datetime, level: str) -> str | None:
    """Say why a new message from `rule` waits (critical posts never do), or None."""
    if rule.cooldown_s <= 0 or level == "critical":
        return None
    last = session.execute(
        select(func.max(IncidentRow.created_at)).where(IncidentRow.rule == rule.name, IncidentRow.kind == "cluster")
    ).scalar()
    if last is not None and last > now - timedelta(seconds=rule.cooldown_s):
        return f"rule {rule.name!r} is cooling down until {(last + timedelta(seconds=rule.cooldown_s)).isoformat()}"
    return None
