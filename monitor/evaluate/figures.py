"""The figures of a replayed labelled stream: how well routing told the team what needs it, and only that.

Which posts a route should alert on is read from the labels through the route's own conditions: its conditions on
the post itself (brands, networks, followers, verified, languages) as they are, and its conditions on what the
post says (sentiments, complaint, urgency categories) on the labels. A route that asks for none of the latter
should alert on posts that need the team (`Labels.needs_action`). `min_urgency` is the route's score threshold,
not a label: it is what `brandmon calibrate` chooses. Only own brands' customer posts should ever alert; a scam
is never a care route's: it belongs to the security alert (`SECURITY_RULE`), measured against the `scam` label.

Routes are tried in order and the first match wins unless a route says `keep_matching`: a post that an earlier
such route alerted on cannot reach a later one, so it is left out of the later route's recall (`taken_earlier`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.settings import RouteRule, Settings
from models.base import SENTIMENTS
from models.metrics import classification_figures
from monitor.evaluate.replay import PostResult, RouteRun

#: The rule name the route step records scam and impostor alerts under (monitor/pipeline/route/security.py).
SECURITY_RULE = "security"


def route_truth(rule: RouteRule, post: PostResult) -> bool | None:
    """Say whether `rule` should alert on `post` by its labels; None when the labels do not say."""
    if not post.own or post.from_brand or post.labels.scam:
        return False
    if rule.brands is not None and post.brand not in rule.brands:
        return False
    if rule.networks is not None and post.network not in rule.networks:
        return False
    if rule.min_followers is not None and (post.followers or 0) < rule.min_followers:
        return False
    if rule.verified_only and not post.verified:
        return False
    if rule.languages is not None and (post.language or "und") not in rule.languages:
        return False
    labels = post.labels
    checks: list[bool | None] = []
    if rule.sentiments is not None:
        checks.append(None if labels.sentiment is None else labels.sentiment in rule.sentiments)
    if rule.complaint is not None:
        checks.append(None if labels.complaint is None else labels.complaint == rule.complaint)
    if rule.urgency_categories is not None:
        checks.append(None if labels.category is None else labels.category in rule.urgency_categories)
    if not checks:
        checks.append(labels.needs_action())
    if False in checks:
        return False
    return None if None in checks else True


@dataclass(frozen=True, slots=True)
class Counts:
    """True and false positives and negatives of one yes/no decision, and the posts the labels left out."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unlabelled: int = 0
    taken_earlier: int = 0
    #: Unlabelled posts the decision took (alerted, queued): counted in `decided`, in no figure.
    unlabelled_decided: int = 0

    @property
    def decided(self) -> int:
        """Return every post the decision took, labelled or not (a route's alerts, a queue's items)."""
        return self.tp + self.fp + self.unlabelled_decided

    @property
    def precision(self) -> float | None:
        """Return tp / (tp + fp), None with no positive decision."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """Return tp / (tp + fn), None with no positive label."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """Return the harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the counts and the rounded figures as JSON values."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "unlabelled": self.unlabelled,
                "taken_earlier": self.taken_earlier, "unlabelled_decided": self.unlabelled_decided,
                "precision": _round(self.precision), "recall": _round(self.recall), "f1": _round(self.f1)}


def count(pairs: Sequence[tuple[bool | None, bool]], *, taken: Sequence[bool] | None = None) -> Counts:
    """Count (truth, decision) pairs; a pair whose `taken` is true and was missed counts as taken earlier."""
    tp = fp = fn = tn = unlabelled = earlier = unlabelled_decided = 0
    for index, (truth, decided) in enumerate(pairs):
        if truth is None:
            unlabelled += 1
            unlabelled_decided += decided
        elif truth and not decided and taken is not None and taken[index]:
            earlier += 1
        elif truth and decided:
            tp += 1
        elif decided:
            fp += 1
        elif truth:
            fn += 1
        else:
            tn += 1
    return Counts(tp, fp, fn, tn, unlabelled, earlier, unlabelled_decided)


def route_counts(rules: Sequence[RouteRule], posts: Sequence[PostResult]) -> dict[str, Counts]:
    """Return each route's counts: its alerts against what its conditions ask of the labels."""
    out: dict[str, Counts] = {}
    exclusive: set[str] = set()
    for rule in rules:
        pairs = [(route_truth(rule, post), rule.name in post.alerts) for post in posts]
        out[rule.name] = count(pairs, taken=[bool(post.alerts & exclusive) for post in posts])
        if not rule.keep_matching:
            exclusive.add(rule.name)
    return out


def _customer(posts: Sequence[PostResult]) -> list[PostResult]:
    return [p for p in posts if p.own and not p.from_brand]


@dataclass(frozen=True, slots=True)
class StreamFigures:
    """Every figure `brandmon evaluate --stream` reports for one routing run."""

    posts: int
    own_posts: int
    routes: dict[str, Counts]
    any_alert: Counts
    #: Posts whose alert was high or critical, and how many of those need no action.
    high_alerts: Counts
    category: dict[str, Any]
    thank: Counts
    respond: Counts
    #: Security alerts (scams and impostors) against the `scam` labels.
    security: Counts
    slack_messages: int
    messages_by_rule: dict[str, int]
    model: dict[str, Any] = field(default_factory=dict)
    #: Posts that should not be answered (scams, spam, news) that opened a respond or thank item.
    wrongly_queued: dict[str, int] = field(default_factory=dict)
    #: Posts that need the team, and outage posts, that reached no case and no incident (the team never sees them).
    unplaced: dict[str, int] = field(default_factory=dict)
    #: The thank-you list against the posts that could open an item of their own: a follow-up that joined a case
    #: already open (a customer's "thanks, sorted" under the team's answer) is answered there, not listed.
    thank_opening: Counts = field(default_factory=Counts)
    #: The brands' own posts in the stream (`from_brand`: the team's answers): never alerted, so not counted per post.
    brand_posts: int = 0
    #: What the team got, labels or not: own-brand customer posts by level, queue items by kind, and the posts the
    #: classifier read as complaints by category.
    workload: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def alertable_posts(self) -> int:
        """Return the replayed posts that could raise an alert: all but the brands' own."""
        return self.posts - self.brand_posts

    @property
    def messages_per_post(self) -> float:
        """Return Slack messages queued per replayed post that could raise one (the brands' own posts left out)."""
        return self.slack_messages / self.alertable_posts if self.alertable_posts else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return every figure as JSON values."""
        return {
            "posts": self.posts, "own_posts": self.own_posts, "brand_posts": self.brand_posts,
            "routes": {name: c.as_dict() for name, c in self.routes.items()},
            "any_alert": self.any_alert.as_dict(), "high_or_critical_alerts": self.high_alerts.as_dict(),
            "category": self.category, "thank": self.thank.as_dict(), "thank_opening": self.thank_opening.as_dict(),
            "respond": self.respond.as_dict(),
            "security": self.security.as_dict(),
            "slack_messages": self.slack_messages, "slack_messages_per_post": round(self.messages_per_post, 4),
            "messages_by_rule": self.messages_by_rule, "model": self.model, "wrongly_queued": self.wrongly_queued,
            "unplaced": self.unplaced, "workload": self.workload,
        }


def stream_figures(settings: Settings, run: RouteRun) -> StreamFigures:
    """Compute every figure of one routing run under `settings`."""
    posts = run.posts
    customers = _customer(posts)
    high = [p for p in customers if p.alerts - {SECURITY_RULE} and p.level in ("high", "critical")]
    return StreamFigures(
        posts=len(posts),
        own_posts=len(customers),
        routes=route_counts(settings.slack.routes, posts),
        any_alert=count([(p.labels.needs_action(), bool(p.alerts - {SECURITY_RULE})) for p in customers]),
        high_alerts=count([(p.labels.needs_action(), True) for p in high]),
        category=category_figures(posts),
        thank=count([(p.labels.wants_thanks(), p.opened == "thank") for p in customers]),
        thank_opening=count([(p.labels.wants_thanks(), p.opened == "thank") for p in customers if not _joined(p)]),
        respond=count([(p.labels.needs_action(), p.opened == "respond") for p in customers]),
        security=count([(p.labels.scam, SECURITY_RULE in p.alerts) for p in customers]),
        slack_messages=run.slack_messages,
        messages_by_rule=dict(sorted(run.messages_by_rule.items())),
        model=model_figures(posts),
        wrongly_queued=wrongly_queued_counts(customers),
        unplaced=unplaced(customers),
        brand_posts=sum(p.from_brand for p in posts),
        workload=workload(customers),
    )


def workload(customers: Sequence[PostResult]) -> dict[str, dict[str, int]]:
    """Count what the team got from the customers' posts, which needs no label: levels, queue items, categories."""
    def tally(values: Iterable[str]) -> dict[str, int]:
        return dict(Counter(values).most_common())

    return {"levels": tally(p.level for p in customers),
            "queue_items": tally(p.opened for p in customers if p.opened is not None),
            "complaint_categories": tally(p.category for p in customers if p.complaint)}


def _joined(post: PostResult) -> bool:
    """Return True for a post that joined a case an earlier post opened (it opened no queue item of its own)."""
    return post.placed and post.opened is None


def category_figures(posts: Sequence[PostResult]) -> dict[str, Any]:
    """Return macro-F1 and accuracy of the stored urgency category on posts with a category label."""
    pairs = [(p.labels.category, p.category) for p in posts if p.labels.category is not None]
    if not pairs:
        return {"n": 0, "macro_f1": None, "accuracy": None}
    names = sorted({name for pair in pairs for name in pair})
    figures = classification_figures([names.index(t) for t, _ in pairs], [names.index(p) for _, p in pairs], names)
    return {"n": figures.n, "macro_f1": round(figures.macro_f1, 4), "accuracy": round(figures.accuracy, 4),
            "per_class_recall": {k: round(v, 4) for k, v in figures.per_class_recall.items()
                                 if any(t == k for t, _ in pairs)}}


def model_figures(posts: Sequence[PostResult]) -> dict[str, Any]:
    """Return the classifier's own figures on the stream: sentiment, complaint, and ironic posts read as complaints."""
    out: dict[str, Any] = {}
    sentiment = [(p.labels.sentiment, p.sentiment) for p in posts if p.labels.sentiment is not None]
    if sentiment:
        figures = classification_figures([SENTIMENTS.index(t) for t, _ in sentiment],
                                         [SENTIMENTS.index(s) for _, s in sentiment], SENTIMENTS)
        out["sentiment"] = {"n": figures.n, "macro_recall": round(figures.macro_recall, 4),
                            "macro_f1": round(figures.macro_f1, 4)}
    complaint = [(p.labels.complaint, p.complaint) for p in posts if p.labels.complaint is not None]
    if complaint:
        figures = classification_figures([int(bool(t)) for t, _ in complaint], [int(c) for _, c in complaint],
                                         ("no", "yes"))
        out["complaint"] = {"n": figures.n, "macro_f1": round(figures.macro_f1, 4),
                            "recall": round(figures.per_class_recall["yes"], 4)}
    ironic = [p for p in posts if p.labels.irony]
    if ironic:
        out["irony"] = {"n": len(ironic), "read_as_complaint": round(sum(p.complaint for p in ironic) / len(ironic), 4)}
    return out


def wrongly_queued_counts(customers: Sequence[PostResult]) -> dict[str, int]:
    """Count the scams that opened any queue item, and the posts that need nothing that opened each kind."""
    scams = [p for p in customers if p.labels.scam]
    idle = [p for p in customers if p.labels.needs_reply == "none" and not p.labels.scam]
    return {"scam_queued": sum(p.opened is not None for p in scams),
            "no_action_queued_respond": sum(p.opened == "respond" for p in idle),
            # a public thank-you to spam or an ad ("DM for followers") is as wrong as an answer
            "no_action_queued_thank": sum(p.opened == "thank" for p in idle)}


def unplaced(customers: Sequence[PostResult]) -> dict[str, int]:
    """Count the posts that need the team, and the outage posts, that reached neither a case nor an incident."""
    acting = [p for p in customers if p.labels.needs_action()]
    outage = [p for p in customers if p.labels.category == "outage"]
    return {"need_action": len(acting), "need_action_unplaced": sum(not p.placed for p in acting),
            "outage": len(outage), "outage_unplaced": sum(not p.placed for p in outage)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_figures(figures: StreamFigures, *, title: str) -> str:
    """Return the figures as a plain-text table, one line per route, then the queue and Slack figures."""
    lines = [title, f"{'route':<20} {'alerts':>6} {'precision':>9} {'recall':>6} {'F1':>6} {'unlabelled':>10}"]

    def row(name: str, c: Counts) -> str:
        return (f"{name:<20} {c.decided:>6} {_cell(c.precision):>9} {_cell(c.recall):>6} {_cell(c.f1):>6} "
                f"{c.unlabelled:>10}")

    lines += [row(name, c) for name, c in figures.routes.items()]
    lines.append(row("(any route)", figures.any_alert))
    high = figures.high_alerts
    lines.append(f"high or critical alerts: {high.decided}, precision {_cell(high.precision)} "
                 f"({high.fp} on posts that need no action)")
    cat = figures.category
    lines.append(f"category macro-F1: {_cell(cat['macro_f1'])} on {cat['n']} labelled posts "
                 f"(accuracy {_cell(cat['accuracy'])})")
    thank, respond = figures.thank, figures.respond
    opening = figures.thank_opening
    lines.append(f"thank-you list: {thank.decided} items, precision {_cell(thank.precision)}, "
                 f"recall {_cell(thank.recall)}; {opening.tp} of the {opening.tp + opening.fn} thank posts that "
                 f"joined no open case ({_cell(opening.recall)}; the others are answered in their case)")
    lines.append(f"respond queue: {respond.decided} items opened, precision {_cell(respond.precision)}, "
                 f"recall {_cell(respond.recall)}; scams queued {figures.wrongly_queued['scam_queued']}, "
                 f"no-action posts queued to respond {figures.wrongly_queued['no_action_queued_respond']}, "
                 f"to thank {figures.wrongly_queued['no_action_queued_thank']}")
    if figures.unplaced:
        out = figures.unplaced
        lines.append(f"in no case or incident: {out['need_action_unplaced']} of {out['need_action']} posts that need "
                     f"action, {out['outage_unplaced']} of {out['outage']} outage posts")
    if figures.workload:
        lines += _workload_lines(figures.own_posts, figures.workload)
    security = figures.security
    lines.append(f"security alerts: {security.decided}, precision {_cell(security.precision)}, "
                 f"recall {_cell(security.recall)} of {security.tp + security.fn} scams")
    answers = f"; the brands' own {figures.brand_posts} left out" if figures.brand_posts else ""
    lines.append(f"Slack messages per post: {figures.messages_per_post:.3f} ({figures.slack_messages} messages "
                 f"for {figures.alertable_posts} posts{answers})")
    model = figures.model
    parts = []
    if "sentiment" in model:
        parts.append(f"sentiment macro-recall {model['sentiment']['macro_recall']:.3f}")
    if "complaint" in model:
        parts.append(f"complaint macro-F1 {model['complaint']['macro_f1']:.3f}")
    if "irony" in model:
        parts.append(f"ironic posts read as complaints {model['irony']['read_as_complaint']:.3f}")
    if parts:
        lines.append("model on the stream: " + ", ".join(parts))
    return "\n".join(lines)


def _workload_lines(customers: int, work: dict[str, dict[str, int]]) -> list[str]:
    def share(counts: dict[str, int], total: int) -> str:
        return ", ".join(f"{name} {n} ({n / total:.0%})" for name, n in counts.items()) if total else "none"

    complaints = sum(work["complaint_categories"].values())
    return [f"levels of the {customers} customer posts: {share(work['levels'], customers)}",
            f"queue items they opened: {share(work['queue_items'], customers)}",
            f"categories of the {complaints} posts read as complaints: "
            f"{share(work['complaint_categories'], complaints)}"]
