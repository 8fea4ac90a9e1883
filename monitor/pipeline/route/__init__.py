"""Route: turn each classified mention into its case, the case's queue item and its Slack message (outbox).

Every own-brand post goes into its case (README, "Cases"): a customer's post joins or opens one, the brand's own
post joins the case of the post it answers. A case has one queue item and one Slack message; the first post
that matches a routing rule tells Slack (opening an incident or joining one, `route/messages.py`), later posts
of the case go into that message's thread and the message is kept current (`route/cases.py`). A customer post
that poses as the brand and baits its customers goes to the security route instead (`route/security.py`).

A post is routed after the post it answers, when that one is stored and classified but not routed yet (a
backfill reads a file in its own order): it waits for a later pass, so a thread is always routed in order.
After routing, cases whose last word is the brand's and that have been quiet `cases.auto_resolve_h` hours
resolve (`monitor/pipeline/sweep.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from core.settings import Settings
from core.storage import Database, insert_ignore
from core.storage.schema import ClassificationRow, MentionRow, RoutingRow
from monitor.pipeline.claim import Statement, claim_batches
from monitor.pipeline.route.cases import refresh_cases, route_brand_post, route_customer_post
from monitor.pipeline.route.messages import RouteBatch, alert_payload, refresh_incidents
from monitor.pipeline.route.relevance import hide_not_relevant
from monitor.pipeline.route.security import route_scam, scam_check
from monitor.pipeline.sweep import resolve_quiet_cases
from monitor.queue.cases_store import is_brand_post

log = logging.getLogger(__name__)

#: Passes over the unrouted posts at most per call; each routes one more level of threads read out of order.
MAX_PASSES = 50


def route_pending(
    db: Database, settings: Settings, *, now: datetime, batch_size: int = 200, skip_locked: bool = False
) -> int:
    """Route classified mentions that have not been routed yet; return how many were routed.

    With `skip_locked` on PostgreSQL each batch is locked (`FOR UPDATE SKIP LOCKED`) while it is routed, so
    several workers route different mentions at the same time.
    """
    routed = 0
    for _ in range(MAX_PASSES):
        done, waiting = _route_pass(db, settings, now=now, batch_size=batch_size, skip_locked=skip_locked)
        routed += done
        if not waiting or not done:
            break
    resolved = resolve_quiet_cases(db, settings.cases, now=now)
    if routed or resolved:
        log.info("routed %d mentions; %d quiet cases resolved", routed, resolved)
    return routed


def _route_pass(db: Database, settings: Settings, *, now: datetime, batch_size: int,
                skip_locked: bool) -> tuple[int, int]:
    """Route what can be routed now; return (routed, waiting for the post they answer)."""
    own_brands = {brand.name for brand in settings.brands if brand.own}
    routed = waiting = 0

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
        batch = RouteBatch(session, settings, now, lock=db.dialect == "postgresql")
        unrouted_parents = _unrouted_parents(session, pending)
        done_here: set[tuple[str, str]] = set()
        for mention, scores in sorted(pending, key=lambda row: (row[0].created_at, row[0].id)):
            parent = unrouted_parents.get((mention.network, mention.parent_id or ""))
            if parent is not None and parent < (mention.created_at, mention.id) \
                    and (mention.network, mention.parent_id) not in done_here:
                waiting += 1
                continue
            decision = _route_one(batch, mention, scores, own=mention.brand in own_brands)
            insert_ignore(session, RoutingRow, [{"mention_id": mention.id, "routed_at": now,
                                                 "matched_rules": decision}], conflict=("mention_id",))
            done_here.add((mention.network, mention.external_id))
            routed += 1
        refresh_cases(batch)
        refresh_incidents(batch)
    return routed, waiting


def _unrouted_parents(session: Session, pending: Sequence[Any]) -> dict[tuple[str, str], tuple[datetime, int]]:
    """Return (network, id) -> (time, row id) of the classified, unrouted posts that pending posts answer."""
    wanted = {(m.network, m.parent_id) for m, _ in pending if m.parent_id}
    if not wanted:
        return {}
    rows = session.execute(
        select(MentionRow.network, MentionRow.external_id, MentionRow.created_at, MentionRow.id)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .outerjoin(RoutingRow, RoutingRow.mention_id == MentionRow.id)
        .where(RoutingRow.mention_id.is_(None),
               tuple_(MentionRow.network, MentionRow.external_id).in_(sorted(wanted)))
    ).all()
    return {(network, external_id): (created_at, row_id) for network, external_id, created_at, row_id in rows}


def _route_one(batch: RouteBatch, mention: MentionRow, scores: ClassificationRow, *, own: bool) -> dict[str, Any]:
    if not own:
        return {"skipped": "competitor brand: tracked for share of voice only"}
    if is_brand_post(mention, batch.accounts(mention.brand, mention.network)):
        return route_brand_post(batch, mention)
    check = scam_check(batch, mention)
    if check.flag:  # an impostor's bait is no customer conversation: the security route, never respond or thank
        return route_scam(batch, mention, scores, check)
    return hide_not_relevant(batch, mention, scores) or route_customer_post(batch, mention, scores)


__all__ = ["alert_payload", "route_pending"]
