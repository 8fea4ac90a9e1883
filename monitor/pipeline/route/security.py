"""The security route: posts that pose as the brand and bait its customers (README, "Scams and impostors").

Every customer post of an own brand is checked (`monitor.pipeline.scam`) before it joins a case. A flagged post is
no customer conversation: it joins no case, opens no queue item (so nobody answers or thanks it, and it is never
counted as a thank-you) and joins no incident. Its routing record keeps the flag and the reasons, and one Slack
message about it goes to `slack.security_channel`; while that is unset, to the channel of the brand's first route,
marked as a suspected impersonation. It is sent at once (quiet hours and cooldowns do not hold it back); a post
that is history is recorded, never sent, as any alert.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from core.storage.schema import ClassificationRow, MentionRow
from monitor.pipeline.route.messages import RouteBatch, alert_payload, enqueue_alert, record_alert
from monitor.pipeline.route.rules import history_reason
from monitor.pipeline.scam import ScamCheck, check_scam

#: The rule name security alerts are recorded and sent under.
SECURITY_RULE = "security"


def scam_check(batch: RouteBatch, mention: MentionRow) -> ScamCheck:
    """Check a customer post against its brand: its name, its accounts on the post's network, its domains."""
    try:
        brand = batch.settings.brand(mention.brand)
    except KeyError:  # a brand that left the config
        return ScamCheck(False)
    return check_scam(mention, brand_name=brand.name, accounts=batch.accounts(mention.brand, mention.network),
                      domains=brand.domains)


def security_channel(settings: Settings, brand: str, network: str) -> tuple[str | None, bool]:
    """Return where a flagged post of `brand` goes and whether that is the dedicated security channel.

    Without `slack.security_channel` it is the channel of the first route that can hear about the brand's posts
    on `network` (the team's most urgent, in the example config); None when no route can.
    """
    if settings.slack.security_channel:
        return settings.slack.security_channel, True
    for rule in settings.slack.routes:
        if (rule.brands is None or brand in rule.brands) and (rule.networks is None or network in rule.networks):
            return rule.channel, False
    return None, False


def route_scam(batch: RouteBatch, mention: MentionRow, scores: ClassificationRow, check: ScamCheck) -> dict[str, Any]:
    """Send a flagged post to the security route; return the routing record (flag and reasons included)."""
    session, settings, now = batch.session, batch.settings, batch.now
    decision: dict[str, Any] = {"scam": {"flag": True, "reasons": list(check.reasons)}, "queue": None,
                                "alerts": [], "case": None}
    if not settings.slack.enabled:
        decision["security"] = {"note": "Slack is off"}
        return decision
    channel, dedicated = security_channel(settings, mention.brand, mention.network)
    if channel is None:
        decision["security"] = {"note": "no slack.security_channel and no route hears about the brand"}
        return decision
    history = history_reason(mention.created_at, now, settings.slack)
    if history is not None:
        record_alert(session, mention, SECURITY_RULE, channel, now, None, history)
        decision.update(history=history, security={"channel": channel, "dedicated": dedicated})
        return decision
    payload = alert_payload(mention, scores, rule=SECURITY_RULE, item=None)
    payload.update(type="security", queue_url=settings.slack.queue_url,
                   scam={"reasons": list(check.reasons), "security_channel": dedicated})
    outbox_id = enqueue_alert(session, SECURITY_RULE, channel, mention, payload, now=now, hold_until=None,
                              key=f"slack:security:{mention.id}")
    record_alert(session, mention, SECURITY_RULE, channel, now, outbox_id, None)
    decision["alerts"] = [SECURITY_RULE]
    decision["security"] = {"channel": channel, "dedicated": dedicated, "outbox_id": outbox_id}
    return decision
