"""Choose each route's score threshold (`min_urgency`) on a labelled stream to reach the precision it states.

For a route with `min_precision`, every distinct urgency score of the replayed posts is a candidate threshold. A
post is alerted at threshold t when the route's other conditions match it (the router's own `rule_matches`), no
earlier route that stops matching took it, its urgency score is at least t, and it opens its case (it matches the
brand query). The threshold chosen reaches `min_precision` against the labels (`figures.route_truth`) with the
best recall; among equals, the highest threshold. Routes are calibrated in config order, each with the ones
above it already set, as the router tries them. A route that no threshold brings to its precision keeps its
threshold. The full replay (cases, incidents, cooldowns) before and after is what `brandmon calibrate` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.settings import RouteRule, Settings
from monitor.evaluate.figures import route_truth
from monitor.evaluate.replay import PostResult
from monitor.pipeline.route.rules import RoutingFacts, matching_rules, rule_matches


@dataclass(frozen=True, slots=True)
class Choice:
    """The threshold chosen for one route and what it gives on the rule matches of the labelled posts."""

    route: str
    min_precision: float
    before: float
    #: The new `min_urgency`; None when no threshold reaches `min_precision` (the route keeps `before`).
    threshold: float | None
    precision: float | None
    recall: float | None
    #: Labelled posts the route could alert on (its conditions and the routes above it allowing).
    labelled: int

    @property
    def reached(self) -> bool:
        """True when a threshold reaches the route's precision."""
        return self.threshold is not None


def facts(post: PostResult) -> RoutingFacts:
    """Return what the routing rules read of a replayed post."""
    return RoutingFacts(brand=post.brand, network=post.network, sentiment=post.sentiment, complaint=post.complaint,
                        urgency_category=post.category, urgency_score=post.urgency_score,
                        author_followers=post.followers, author_verified=post.verified, language=post.language,
                        needs_human=post.needs_human, text=post.text)


def _sweep(rows: Sequence[tuple[float, bool, bool]], target: float) -> tuple[float, float, float] | None:
    """Return (threshold, precision, recall) with precision >= target and the best recall, or None.

    `rows` are (score, alertable, truth) per labelled post the route can reach; recall counts every true one.
    """
    positives = sum(truth for _, _, truth in rows)
    if not positives:
        return None
    alertable = sorted(((s, t) for s, a, t in rows if a), key=lambda row: -row[0])
    best: tuple[float, float, float] | None = None
    tp = fp = 0
    for index, (score, truth) in enumerate(alertable):
        tp += truth
        fp += not truth
        if index + 1 < len(alertable) and alertable[index + 1][0] == score:
            continue  # a threshold admits every post at its score
        precision, recall = tp / (tp + fp), tp / positives
        if precision >= target and (best is None or (recall, precision) > (best[2], best[1])):
            best = (score, precision, recall)
    return best


def choose_thresholds(settings: Settings, posts: Sequence[PostResult]) -> tuple[list[RouteRule], list[Choice]]:
    """Return the routes with calibrated `min_urgency` and one `Choice` per route that states `min_precision`."""
    routes = list(settings.slack.routes)
    post_facts = [facts(p) for p in posts]
    choices: list[Choice] = []
    for index, rule in enumerate(routes):
        if rule.min_precision is None:
            continue
        open_rule = rule.model_copy(update={"min_urgency": 0.0})
        rows: list[tuple[float, bool, bool]] = []
        for post, fact in zip(posts, post_facts, strict=True):
            truth = route_truth(rule, post)
            if truth is None or not post.own or post.from_brand:
                continue
            if any(not r.keep_matching for r in matching_rules(routes[:index], fact)):
                continue  # an earlier route takes it, whatever this one's threshold
            alertable = post.matched_query and rule_matches(open_rule, fact)
            rows.append((post.urgency_score, alertable, truth))
        found = _sweep(rows, rule.min_precision)
        if found is not None:
            routes[index] = rule.model_copy(update={"min_urgency": round(found[0], 4)})
        choices.append(Choice(rule.name, rule.min_precision, rule.min_urgency,
                              None if found is None else round(found[0], 4),
                              None if found is None else found[1], None if found is None else found[2], len(rows)))
    return routes, choices


def with_routes(settings: Settings, routes: Sequence[RouteRule]) -> Settings:
    """Return `settings` with its routes replaced."""
    return settings.model_copy(update={"slack": settings.slack.model_copy(update={"routes": list(routes)})})
