"""Routing: which Slack channels hear about a post, and whether it needs a responder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.settings import RouteRule


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingFacts:
    """What routing rules look at for one classified post."""

    brand: str
    network: str
    sentiment: str
    complaint: bool
    urgency_category: str
    urgency_score: float
    author_followers: int | None
    author_verified: bool
    language: str | None
    needs_human: bool
    text: str


def rule_matches(rule: RouteRule, facts: RoutingFacts) -> bool:
    """Return True when every condition the rule sets holds for `facts`."""
    if rule.brands is not None and facts.brand not in rule.brands:
        return False
    if rule.networks is not None and facts.network not in rule.networks:
        return False
    if rule.sentiments is not None and facts.sentiment not in rule.sentiments:
        return False
    if rule.complaint is not None and facts.complaint != rule.complaint:
        return False
    if rule.urgency_categories is not None and facts.urgency_category not in rule.urgency_categories:
        return False
    if facts.urgency_score < rule.min_urgency:
        return False
    if rule.min_followers is not None and (facts.author_followers or 0) < rule.min_followers:
        return False
    if rule.verified_only and not facts.author_verified:
        return False
    return not (rule.languages is not None and (facts.language or "und") not in rule.languages)


def matching_rules(rules: Sequence[RouteRule], facts: RoutingFacts) -> list[RouteRule]:
    """Return the rules that match, in config order."""
    return [rule for rule in rules if rule_matches(rule, facts)]


def queue_kind(facts: RoutingFacts, *, urgency_level: str) -> str | None:
    """Decide whether a post needs a responder: "respond", "thank", or None for no queue item."""
    if facts.needs_human or facts.complaint or facts.sentiment == "negative":
        return "respond"
    if urgency_level in ("critical", "high"):
        return "respond"
    if "?" in facts.text:
        return "respond"
    if facts.sentiment == "positive":
        return "thank"
    return None
