"""Route each own-brand post into its case: one queue item and one Slack message per customer conversation.

A customer's post joins (or opens) its case (`monitor/queue/cases_store.py`). The case's first post that needs a
responder queues its one item; later posts bump that item instead. The first post that matches a routing rule
tells Slack about the case as any alert does (an incident of its own, or a reply in another's); every later
post of the case goes into that message's thread, and the message itself is re-armed (chat.update) with the
case's summary. The brand's own posts (typed in the network's app) join the case of the post they answer and
move it to replied, so nobody answers it twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.settings import Settings
from core.storage.case_tables import CaseRow
from core.storage.incident_tables import IncidentRow
from core.storage.schema import ClassificationRow, MentionRow, OutboxRow, QueueItemRow
from monitor.pipeline.route.incidents import Match, Signature, signature
from monitor.pipeline.route.messages import (
    RouteBatch,
    alert_payload,
    announce,
    enqueue_alert,
    join_incident,
    record_alert,
    release_held,
)
from monitor.pipeline.route.rules import (
    RoutingFacts,
    history_reason,
    matching_rules,
    queue_kind,
    quiet_decision,
    stored_needs_reply,
)
from monitor.queue.cases_store import Placement, place_brand_post, place_customer_post, refold
from monitor.queue.cases_sync import (
    after_brand_post,
    bump_item,
    close_item,
    create_item,
    mark_replied,
    refresh_message,
)


def facts_of(mention: MentionRow, scores: ClassificationRow) -> RoutingFacts:
    """Return what routing rules look at for one classified post."""
    return RoutingFacts(
        brand=mention.brand, network=mention.network, sentiment=scores.sentiment, complaint=scores.complaint,
        urgency_category=scores.urgency_category, urgency_score=scores.urgency_score,
        author_followers=mention.author_followers, author_verified=mention.author_verified,
        language=scores.language, needs_human=scores.needs_human, text=mention.text,
        needs_reply=stored_needs_reply(scores.explanation),
        category=scores.category,
    )


def _signature(mention: MentionRow, scores: ClassificationRow, settings: Settings) -> Signature:
    return signature(text=mention.text, network=mention.network, external_id=mention.external_id,
                     raw=mention.raw or {}, category=scores.urgency_category,
                     group_categories=settings.slack.incident_categories, parent_id=mention.parent_id)


def route_brand_post(batch: RouteBatch, mention: MentionRow) -> dict[str, Any]:
    """Put the brand's own post in the case of the post it answers; the case is then replied."""
    session, settings, now = batch.session, batch.settings, batch.now
    batch.serialise(mention.brand)
    placement = place_brand_post(session, mention, accounts=batch.accounts(mention.brand, mention.network))
    if placement is None:
        return {"skipped": "the brand's own post, answering no case brandmon knows of"}
    case = placement.case
    refold(session, case, now=now, auto_resolve_h=settings.cases.auto_resolve_h)
    # however late it is read (a brand's own posts may be polled hourly), the brand's reply counts
    after_brand_post(session, case, at=mention.created_at, now=now, mention_id=mention.id,
                     via=placement.post.via or "native")
    batch.cases[case.id] = case
    return {"case": case.id, "brand_reply": placement.post.via or "native", "case_status": case.status}


def place_in_case(batch: RouteBatch, mention: MentionRow, scores: ClassificationRow) -> Placement | None:
    """Put a customer's post in its case (opening one only when it matched the brand query); None when none."""
    batch.serialise(mention.brand)
    return place_customer_post(batch.session, mention, accounts=batch.accounts(mention.brand, mention.network),
                               merge_window_h=batch.settings.cases.merge_window_h, may_open=scores.matched_query,
                               now=batch.now)


def route_customer_post(batch: RouteBatch, mention: MentionRow, scores: ClassificationRow) -> dict[str, Any]:
    """Put a customer's post in its case, queue or bump the case's item, and tell Slack once per case."""
    session, settings, now = batch.session, batch.settings, batch.now
    placement = place_in_case(batch, mention, scores)
    if placement is None:
        return {"skipped": "does not match the brand query"}
    case = placement.case
    state = refold(session, case, now=now, auto_resolve_h=settings.cases.auto_resolve_h)
    assert state is not None  # it holds this post
    history = history_reason(mention.created_at, now, settings.slack)
    facts = facts_of(mention, scores)
    kind = queue_kind(facts, urgency_level=scores.urgency_level)
    if kind is None and not placement.opened and state.status == "open" and state.brand_reply_count:
        kind = "respond"  # an answer to the brand ("iOS 11.0.3") needs the brand's next word
    item = session.get(QueueItemRow, case.queue_item_id) if case.queue_item_id else None
    if item is None:
        if kind is not None and state.status != "resolved":
            item = create_item(session, case, mention, scores, kind=kind, sla=settings.sla, now=now,
                               history=history)
    elif history is None and not placement.known:
        if state.status == "resolved":
            close_item(session, item, why=state.resolved_by or "customer", now=now, mention_id=mention.id)
        else:
            bump_item(session, case, item, mention, scores, kind=kind, sla=settings.sla, now=now)
    if item is not None and state.status == "replied" and state.last_brand_at is not None:
        # the brand's reply was read before this post (another source, polled sooner): it answered already
        mark_replied(session, item, at=state.last_brand_at, now=now, mention_id=mention.id, via="native")
    batch.cases[case.id] = case
    event = "opened" if placement.opened else "resolved" if state.status == "resolved" else "joined"
    decision: dict[str, Any] = {"alerts": [], "queue": kind, "case": case.id, "case_event": event,
                                **({"history": history} if history else {})}
    rules = matching_rules(settings.slack.routes, facts) if settings.slack.enabled else []
    if history or placement.known:
        for rule in rules if history else []:  # history is recorded, never sent
            record_alert(session, mention, rule.name, rule.channel, now, None, history)
        return decision
    payload = alert_payload(mention, scores, rule="", item=item, categories=batch.categories)
    payload.update(queue_url=settings.slack.queue_url, case_id=case.id)
    outcomes: dict[str, dict[str, Any]] = {}
    if case.outbox_id is not None and settings.slack.enabled:
        outcomes = _follow_up(batch, case, mention, scores, payload)
    if case.outbox_id is None and rules:
        outcomes = announce(batch, rules, mention, scores, payload, _signature(mention, scores, settings))
        case.outbox_id = next((out.get("outbox_id") or out.get("root_outbox_id") for out in outcomes.values()
                               if out.get("outbox_id") or out.get("root_outbox_id")), None)
    decision["alerts"] = [name for name, out in outcomes.items() if out.get("outbox_id") and not out.get("note")]
    decision["incidents"] = {name: out["incident"] for name, out in outcomes.items() if out.get("incident")}
    notes = {name: out["note"] for name, out in outcomes.items() if out.get("note")}
    if notes:
        decision["notes"] = notes
    return decision


def _follow_up(batch: RouteBatch, case: CaseRow, mention: MentionRow, scores: ClassificationRow,
               payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Put a later post of the case in its message's thread (or its incident, when that tells many posts)."""
    session, settings, now = batch.session, batch.settings, batch.now
    message = session.get(OutboxRow, case.outbox_id)
    if message is None or message.status == "dead":
        case.outbox_id = None  # the message never made it: the case is told afresh
        return {}
    root_id = int(message.payload.get("after") or message.id)
    root = session.get(OutboxRow, root_id) or message
    incident = session.scalar(select(IncidentRow).where(IncidentRow.root_outbox_id == root_id))
    if incident is not None and (incident.member_count >= 2 or root.payload.get("type") == "incident"):
        match = Match(incident, f"follow-up in case #{case.id}")
        out = join_incident(batch, match, mention, scores, dict(payload), _signature(mention, scores, settings))
        return {incident.rule: out}
    rule = str(root.payload.get("rule") or "case")
    quiet = quiet_decision(settings.slack, root.channel, now, scores.urgency_score)
    if quiet.drop:
        record_alert(session, mention, rule, root.channel, now, None, f"case #{case.id} follow-up: {quiet.reason}")
        return {rule: {"note": quiet.reason}}
    payload.update(rule=rule, compact=True, after=root_id,
                   join_reason=f"follow-up in case #{case.id} ({case.post_count} posts)")
    outbox_id = enqueue_alert(session, rule, root.channel, mention, payload, now=now, hold_until=quiet.hold_until,
                              key=f"slack:case:{case.id}:{mention.id}")
    if quiet.hold_until is None:
        release_held(session, root_id, now)
    record_alert(session, mention, rule, root.channel, now, outbox_id, None)
    return {rule: {"outbox_id": outbox_id, "note": quiet.reason if quiet.hold_until else None}}


def refresh_cases(batch: RouteBatch) -> None:
    """Re-arm the message of each case the batch changed with its summary (before incidents refresh theirs)."""
    batch.session.flush()
    for case in batch.cases.values():
        refresh_message(batch.session, case, now=batch.now)
