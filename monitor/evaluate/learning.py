"""What a week of corrections buys: the team corrects the early posts, brandmon learns, the later posts are measured.

    python -m monitor.evaluate.learning STREAM.jsonl -c CONFIG [--early 0.5] [--json]

A labelled stream is replayed through the real classify and route steps (`monitor.evaluate.replay`). A responder
sees the posts that opened a queue item. Of those among the stream's first `--early` share of customer posts (in
time order), each one the model misread (its sentiment or complaint against the labels) becomes the correction a
responder would have made, and each one it read right is handled as read (a confirmation,
`monitor.queue.confirmations`). Each own brand's heads are then fitted and checked on both, as `brandmon train
--corrections` does on what is stored (`models.corrections.train_from_corrections`: held-out posts, refused when
worse; `--mistakes-only` learns from the corrections alone, as it did before confirmations), and the stream is
replayed again with the heads it kept. Only the later posts are measured, before and after: the posts the team's
work never saw. Nothing is saved and the configured database is never touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.textsafe import for_terminal
from models.corrections import Correction, train_from_corrections
from monitor.evaluate.figures import StreamFigures, stream_figures
from monitor.evaluate.replay import PostResult, Replay, RouteRun, replay_folder

#: The share of the customer posts, in time order, whose misreads the team corrects.
DEFAULT_EARLY = 0.5


@dataclass(frozen=True, slots=True)
class BrandLearning:
    """One brand's corrections and what training on them gave."""

    brand: str
    corrections: int
    confirmations: int = 0
    #: Why no heads were fitted (too few corrections), else None.
    skipped: str | None = None
    trained_on: int = 0
    held_out: int = 0
    #: Posts left out because the heads do not read their language.
    unread: int = 0
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    accepted: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the brand's outcome as JSON values."""
        return {"brand": self.brand, "corrections": self.corrections, "confirmations": self.confirmations,
                "skipped": self.skipped,
                "trained_on": self.trained_on, "held_out": self.held_out, "unread": self.unread,
                "held_out_before": self.before,
                "held_out_after": self.after, "accepted": self.accepted}


@dataclass(frozen=True, slots=True)
class LearningRun:
    """The later posts' figures before and after learning from the earlier posts' corrections."""

    early_posts: int
    late_posts: int
    brands: list[BrandLearning]
    before: StreamFigures
    after: StreamFigures | None


def split_early(posts: Sequence[PostResult], share: float) -> tuple[list[PostResult], list[PostResult]]:
    """Split the customer posts into the first `share` in time order and the rest (stored ids are in time order)."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"--early must be between 0 and 1, got {share}")
    customers = sorted((p for p in posts if p.own and not p.from_brand), key=lambda p: p.mention_id)
    cut = round(len(customers) * share)
    return customers[:cut], customers[cut:]


def team_feedback(posts: Sequence[PostResult]) -> tuple[list[Correction], list[Correction]]:
    """Return what a responder leaves on the queued posts: corrections of misreads, and the posts read right.

    Only posts labelled with both sentiment and complaint count (a correction sets both); a post that opened no
    queue item was never in front of a responder. Confirmations get negative ids, as `load_confirmations` gives.
    """
    corrections: list[Correction] = []
    confirmations: list[Correction] = []
    for post in posts:
        labels = post.labels
        if post.opened is None or labels.sentiment is None or labels.complaint is None:
            continue
        misread = post.sentiment != labels.sentiment or post.complaint != labels.complaint
        (corrections if misread else confirmations).append(Correction(
            id=post.mention_id if misread else -post.mention_id, text=post.text, sentiment=labels.sentiment,
            complaint=labels.complaint, language=post.language))
    return corrections, confirmations


def _later_figures(settings: Any, posts: Sequence[PostResult], late_ids: set[int]) -> StreamFigures:
    """Return the figures of the later posts alone (no Slack count: that is counted per replay)."""
    return stream_figures(settings, RouteRun([p for p in posts if p.mention_id in late_ids], slack_messages=0))


def run_learning(settings: Any, stream: Path, *, early: float = DEFAULT_EARLY, folder: Path,
                 mistakes_only: bool = False, progress: bool = True) -> LearningRun:
    """Replay `stream`, learn each own brand's heads from the team's work on the early posts, measure the rest twice."""
    from models.multilingual import MultilingualClassifier
    from models.transformer import TransformerClassifier

    for part in ("before", "after"):  # each replay keeps its scored template in its own folder
        (folder / part).mkdir(parents=True, exist_ok=True)
    first = Replay(settings, stream, folder=folder / "before", progress=progress)
    posts = first.route(desc="routing (before)").posts
    early_posts, late_posts = split_early(posts, early)
    late_ids = {p.mention_id for p in late_posts}
    before = _later_figures(settings, posts, late_ids)
    classifier = first.classifier
    english = classifier.english if isinstance(classifier, MultilingualClassifier) else classifier
    if not isinstance(english, TransformerClassifier):
        raise ValueError(f"classifier.kind is {settings.classifier.kind!r}: heads from corrections are fitted on "
                         "the transformer's encoder")
    outcomes = []
    for brand in sorted({p.brand for p in early_posts}):
        corrections, confirmations = team_feedback([p for p in early_posts if p.brand == brand])
        if mistakes_only:
            confirmations = []
        try:
            outcome = train_from_corrections(english, brand, corrections, confirmations=confirmations)
        except ValueError as exc:
            outcomes.append(BrandLearning(brand, len(corrections), len(confirmations), skipped=str(exc)))
            continue
        if outcome.accepted:
            english.use_brand_heads(brand, outcome.heads)
        outcomes.append(BrandLearning(brand, len(corrections), len(confirmations), trained_on=outcome.trained_on,
                                      held_out=outcome.held_out, unread=outcome.skipped, before=outcome.before,
                                      after=outcome.after, accepted=outcome.accepted))
    after = None
    if any(o.accepted for o in outcomes):
        second = Replay(settings, stream, classifier=classifier, folder=folder / "after", progress=progress)
        after = _later_figures(settings, second.route(desc="routing (after)").posts, late_ids)
    return LearningRun(len(early_posts), len(late_posts), outcomes, before, after)


#: The figures compared before and after, each read from a `StreamFigures`.
COMPARED: tuple[tuple[str, Any], ...] = (
    ("thank-you list precision", lambda f: f.thank.precision),
    ("thank posts that opened a thank-you (no open case)", lambda f: f.thank_opening.recall),
    ("respond queue precision", lambda f: f.respond.precision),
    ("respond queue recall", lambda f: f.respond.recall),
    ("high or critical alerts", lambda f: f.high_alerts.decided),
    ("  of them on posts that need no action", lambda f: f.high_alerts.fp),
    ("any alert precision", lambda f: f.any_alert.precision),
    ("any alert recall", lambda f: f.any_alert.recall),
    ("model sentiment macro-recall", lambda f: f.model.get("sentiment", {}).get("macro_recall")),
    ("model complaint macro-F1", lambda f: f.model.get("complaint", {}).get("macro_f1")),
)


def _value(value: float | int | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def format_learning(run: LearningRun, *, title: str) -> str:
    """Return the brands' training lines and a before/after table of the later posts."""
    lines = [title]
    for brand in run.brands:
        name = for_terminal(brand.brand)  # a config's text, shown escaped and isolated like a post's
        if brand.skipped is not None:
            lines.append(f"{name}: {brand.corrections} corrections and {brand.confirmations} posts handled "
                         f"as read, no heads fitted: {for_terminal(brand.skipped)}")
            continue
        assert brand.before is not None and brand.after is not None
        verdict = "kept" if brand.accepted else "refused (worse on the held-out posts)"
        other = f", {brand.unread} in languages the heads do not read" if brand.unread else ""
        lines.append(f"{name}: {brand.corrections} corrections and {brand.confirmations} posts handled as "
                     f"read ({brand.trained_on} trained on, {brand.held_out} held out{other}), held-out score "
                     f"{brand.before['score']:.3f} -> {brand.after['score']:.3f}: {verdict}")
    lines.append(f"the {run.late_posts} later customer posts (after the first {run.early_posts}):")
    lines.append(f"{'':<52} {'before':>7} {'after':>7}")
    for label, read in COMPARED:
        after = "-" if run.after is None else _value(read(run.after))
        lines.append(f"{label:<52} {_value(read(run.before)):>7} {after:>7}")
    return "\n".join(lines)


#: Figures of a whole replay that a share of its posts does not have (Slack messages are counted run-wide).
RUN_WIDE = ("slack_messages", "slack_messages_per_post", "messages_by_rule")


def _later(figures: StreamFigures) -> dict[str, Any]:
    return {name: value for name, value in figures.as_dict().items() if name not in RUN_WIDE}


def as_json(run: LearningRun) -> dict[str, Any]:
    """Return the run as JSON values: the brands' outcomes and both figure sets of the later posts."""
    return {"early_posts": run.early_posts, "late_posts": run.late_posts,
            "brands": [b.as_dict() for b in run.brands], "before": _later(run.before),
            "after": None if run.after is None else _later(run.after)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the drill on a labelled stream and print what the corrections changed on the later posts."""
    from models import ModelUnavailable
    from monitor.cli.evaluate_cmds import load_config
    from monitor.evaluate.labels import StreamError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stream", type=Path, help="labelled stream (JSON Lines, as brandmon evaluate --stream)")
    parser.add_argument("-c", "--config", type=Path, required=True, help="the YAML config whose model and routes learn")
    parser.add_argument("--early", type=float, default=DEFAULT_EARLY,
                        help="share of the customer posts, in time order, whose misreads are corrected")
    parser.add_argument("--mistakes-only", action="store_true",
                        help="learn from the corrections alone, not the posts the team handled as read")
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    args = parser.parse_args(argv)
    if not 0.0 < args.early < 1.0:
        parser.error(f"--early must be between 0 and 1, got {args.early}")
    settings = load_config(args.config)
    try:
        with replay_folder() as folder:
            run = run_learning(settings, args.stream, early=args.early, folder=folder,
                               mistakes_only=args.mistakes_only)
    except (StreamError, ModelUnavailable, ValueError) as exc:
        print(f"monitor.evaluate.learning: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(run), indent=2))
    else:
        title = (f"{for_terminal(args.stream.name)}: the team works the first {args.early:.0%} of the customer posts, "
                 "brandmon learns, the rest are measured")
        print(format_learning(run, title=title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
