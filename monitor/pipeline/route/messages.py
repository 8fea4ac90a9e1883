"""Slack messages of routing: a post opens an incident (a normal alert) or joins one (a reply in its thread).

A post whose story is already an open incident of a rule joins it: the incident's message is re-armed to be
edited (chat.update, once per batch) and the post goes in its thread. Any other post opens a new incident,
posted as a normal alert; cooldowns (per rule) and quiet hours (per channel) apply to new messages only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.outbox import enqueue, rearm, window_end
from core.settings import RouteRule, Settings
from core.storage.case_tables import CaseRow
from core.storage.incident_tables import IncidentRow
from core.storage.schema import AlertRow, ClassificationRow, MentionRow, OutboxRow, QueueItemRow
from models.base import URGENCY_CATEGORIES
from monitor.pipeline.route.incidents import (
    IncidentIndex,
    Match,
    Signature,
    add_member,
    incident_payload,
    new_incident,
)
from monitor.pipeline.route.rules import quiet_decision
from monitor.queue.cases_store import accounts_of
from monitor.queue.categories import BrandCategories, brand_categories, own_choices

#: What an alert copies from the post and from its scores, so the message never changes under it.
MENTION_FIELDS = ("brand", "network", "external_id", "url", "author_handle", "author_name", "author_followers",
                  "author_verified", "text")
SCORE_FIELDS = ("language", "sentiment", "sentiment_probs", "complaint", "complaint_prob", "severity",
                "urgency_score", "urgency_level", "urgency_category", "needs_human", "needs_human_reason",
                "explanation", "model")


def alert_payload(
    mention: MentionRow, scores: ClassificationRow, *, rule: str, item: QueueItemRow | None,
    categories: BrandCategories | None = None,
) -> dict[str, Any]:
    """Return everything a channel needs to render an alert, copied so it never changes under it.

    `categories` (`brand_categories(settings.brands)`) gives the brand's own categories its Reclassify menu offers
    beside the built-in ones; the Slack handler checks a click against the same settings.
    """
    return {
        "type": "alert",
        "mention_id": mention.id,
        "rule": rule,
        **{name: getattr(mention, name) for name in MENTION_FIELDS},
        "created_at": mention.created_at.isoformat(),
        **{name: getattr(scores, name) for name in SCORE_FIELDS},
        "queue_item_id": item.id if item is not None else None,
        "first_response_due": item.first_response_due.isoformat() if item is not None else None,
        # the category the alert shows: a brand's own under its name ("other" in `urgency_category`)
        "category": scores.category or scores.urgency_category,
        "categories": list(URGENCY_CATEGORIES),
        "own_categories": list(own_choices(mention.brand, categories)),
    }


class RouteBatch:
    """What one routing batch shares: its session, the incident index, the incidents and cases it touched."""

    def __init__(self, session: Session, settings: Settings, now: datetime, *, lock: bool) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.rules = {rule.name: rule for rule in settings.slack.routes}
        #: The brands' own categories, offered in each alert's Reclassify menu.
        self.categories = brand_categories(settings.brands)
        self.incidents = IncidentIndex(session, settings.slack)
        self.touched: dict[int, IncidentRow] = {}
        self.cases: dict[int, CaseRow] = {}
        self.lock = lock
        self._locked: set[str] = set()
        self._accounts: dict[tuple[str, str], frozenset[str]] = {}

    def serialise(self, brand: str) -> None:
        """On PostgreSQL, let one transaction at a time match a brand's posts to incidents and cases."""
        if self.lock and brand not in self._locked:
            self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"incident:{brand}"})
            self._locked.add(brand)

    def rule(self, incident: IncidentRow) -> RouteRule:
        """Return the rule an incident was opened by (its defaults when the rule left the config)."""
        return self.rules.get(incident.rule) or RouteRule(name=incident.rule, channel=incident.channel)

    def accounts(self, brand: str, network: str) -> Collection[str]:
        """Return the brand's own accounts on `network` (`brands[].handles`), lower case."""
        key = (brand, network)
        if key not in self._accounts:
            try:
                handles = self.settings.brand(brand).accounts(network)
            except KeyError:  # a brand that left the config
                handles = []
            self._accounts[key] = accounts_of(handles)
        return self._accounts[key]


def announce(batch: RouteBatch, rules: Sequence[RouteRule], mention: MentionRow, scores: ClassificationRow,
             payload: dict[str, Any], sig: Signature) -> dict[str, dict[str, Any]]:
    """Tell Slack about a post: in the open incidents it belongs to, else as new incidents (one per channel)."""
    batch.serialise(mention.brand)
    outcomes: dict[str, dict[str, Any]] = {}
    matches = batch.incidents.find(mention.brand, sig, mention.created_at)
    if matches:  # the story is already told somewhere: it grows there, whichever rule this post matched
        for match in matches:
            if match.incident.rule not in outcomes:
                outcomes[match.incident.rule] = join_incident(batch, match, mention, scores, dict(payload), sig)
    else:
        channels: set[str] = set()
        for rule in rules:
            if rule.channel not in channels:  # one message per channel, from the first rule that names it
                channels.add(rule.channel)
                outcomes[rule.name] = open_incident(batch, rule, mention, scores, dict(payload), sig)
    return outcomes


def join_incident(
    batch: RouteBatch, match: Match, mention: MentionRow, scores: ClassificationRow, payload: dict[str, Any],
    sig: Signature,
) -> dict[str, Any]:
    """Add the post to an open incident; reply in its thread unless there is a reason not to."""
    session, now = batch.session, batch.now
    incident, rule = match.incident, batch.rule(match.incident)
    quiet = quiet_decision(batch.settings.slack, incident.channel, now, scores.urgency_score)
    member = add_member(session, incident, mention_id=mention.id, post_at=mention.created_at,
                        urgency=scores.urgency_score, sig=sig, reason=match.reason, now=now)
    batch.incidents.add(incident, sig)
    batch.touched[incident.id] = incident
    why_not = _no_thread_reason(incident, rule, sig, batch.settings.slack.incident_thread_max, quiet.drop)
    outbox_id = None
    if rule.batch_every_min and not quiet.drop:  # a batched route has no threads: the post is one more line
        why_not = None
        payload.update(rule=incident.rule, incident_id=incident.id, join_reason=match.reason)
        outbox_id = enqueue_alert(session, incident.rule, incident.channel, mention, payload, now=now,
                                  hold_until=quiet.hold_until, batch_every_min=rule.batch_every_min)
        member.outbox_id = outbox_id
    elif why_not is None:
        payload.update(rule=incident.rule, compact=True, incident_id=incident.id, join_reason=match.reason,
                       after=incident.root_outbox_id)
        outbox_id = enqueue_alert(session, incident.rule, incident.channel, mention, payload, now=now,
                                  hold_until=quiet.hold_until)
        member.outbox_id = outbox_id
        incident.thread_replies += 1
    if quiet.hold_until is None and incident.root_outbox_id is not None:
        release_held(session, incident.root_outbox_id, now)  # an urgent post wakes a held incident
    record_alert(session, mention, incident.rule, incident.channel, now, outbox_id,
                 None if outbox_id else f"in incident #{incident.id}: {why_not}")
    return {"incident": incident.id, "outbox_id": outbox_id, "root_outbox_id": incident.root_outbox_id,
            "note": quiet.reason if quiet.hold_until else None}


def record_alert(session: Any, mention: MentionRow, rule: str, channel: str, now: datetime,
                 outbox_id: int | None, suppressed_reason: str | None) -> None:
    """Record that `rule` sent (or held back, with the reason) an alert about `mention` to `channel`."""
    session.add(AlertRow(mention_id=mention.id, rule=rule, channel=channel, created_at=now, outbox_id=outbox_id,
                         suppressed_reason=suppressed_reason))


def open_incident(
    batch: RouteBatch, rule: RouteRule, mention: MentionRow, scores: ClassificationRow, payload: dict[str, Any],
    sig: Signature,
) -> dict[str, Any]:
    """Open a new incident with this post as its first member and queue its message."""
    session, now = batch.session, batch.now
    quiet = quiet_decision(batch.settings.slack, rule.channel, now, scores.urgency_score)
    refused = _cooldown_reason(session, rule, now, scores.urgency_level) or (quiet.reason if quiet.drop else None)
    if refused is not None:
        record_alert(session, mention, rule.name, rule.channel, now, None, refused)
        return {"note": refused}
    incident = new_incident(session, brand=mention.brand, rule=rule.name, channel=rule.channel,
                            category=scores.urgency_category, post_at=mention.created_at, now=now,
                            lead_mention_id=mention.id)
    add_member(session, incident, mention_id=mention.id, post_at=mention.created_at, urgency=scores.urgency_score,
               sig=sig, reason="first post", now=now)
    batch.incidents.add(incident, sig)
    payload.update(rule=rule.name, incident_id=incident.id)
    incident.root_outbox_id = enqueue_alert(session, rule.name, rule.channel, mention, payload, now=now,
                                            hold_until=quiet.hold_until, batch_every_min=rule.batch_every_min)
    record_alert(session, mention, rule.name, rule.channel, now, incident.root_outbox_id, None)
    return {"incident": incident.id, "outbox_id": incident.root_outbox_id, "root_outbox_id": incident.root_outbox_id,
            "note": quiet.reason if quiet.hold_until else None}


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


def enqueue_alert(session: Session, rule: str, channel: str, mention: MentionRow, payload: dict[str, Any], *,
                  now: datetime, hold_until: datetime | None, key: str | None = None,
                  batch_every_min: int | None = None) -> int:
    """Queue one Slack message about `mention` (once per rule, or per `key`); return its outbox row.

    With `batch_every_min` it is a line of the route's summary at the end of the window it falls in.
    """
    status, not_before = "pending", hold_until
    if batch_every_min:
        status, not_before = "batched", window_end(max(now, hold_until or now), batch_every_min)
    outbox_id, _ = enqueue(
        session, kind="slack", channel=channel, dedupe_key=key or f"slack:{rule}:{mention.id}", payload=payload,
        now=now, not_before=not_before, status=status,
    )
    return outbox_id


def release_held(session: Session, outbox_id: int, now: datetime) -> None:
    """Send a message held for quiet hours now (an urgent post arrived)."""
    row = session.get(OutboxRow, outbox_id)
    if row is not None and row.status == "pending" and row.next_attempt_at > now:
        row.next_attempt_at = now


def refresh_incidents(batch: RouteBatch) -> None:
    """Re-arm each grown incident's message once per batch, so Slack sees one edit per batch, not per post."""
    batch.session.flush()
    for incident in batch.touched.values():
        if incident.root_outbox_id is None or incident.member_count < 2 or batch.rule(incident).batch_every_min:
            continue  # a batched route's posts are lines of its summary, not edits of one message
        rearm(batch.session, incident.root_outbox_id, incident_payload(batch.session, incident, batch.settings.slack),
              now=batch.now)


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
