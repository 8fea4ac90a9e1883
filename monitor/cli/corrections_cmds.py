"""`brandmon train --corrections [-c CONFIG] [--brand B]`: learn per-brand heads and categories from corrections.

It extends the model command `brandmon train` (monitor/cli/model_cmds.py), which trains on the benchmarks. The
corrections are the labelled examples the reply queue stores when someone reclassifies a post.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import config_options, fail, load
from monitor.cli.extend import extend_command

CORRECTIONS_HELP = (
    "With --corrections: fit each own brand's sentiment and complaint heads on the corrections stored in the "
    "database of -c CONFIG and on the posts a person answered or resolved as the model read them, check them on "
    "held-out ones, and save them under classifier.data_dir (heads/) "
    "only when the classifier scores at least as well with them; exits 1 when a brand's new heads score worse, or "
    "too few corrections are stored; category corrections teach the brand's categories the same way, checked on "
    "the held-out category macro-F1 (README, \"Learning from corrections\")."
)


def load_corrections(db: Any, brand: str) -> list[Any]:
    """Return the brand's stored corrections, the latest one per post."""
    from sqlalchemy import select

    from core.storage.queue_tables import LabelledExampleRow
    from models.corrections import Correction

    with db.session() as session:
        rows = session.execute(select(LabelledExampleRow).where(LabelledExampleRow.brand == brand)
                               .order_by(LabelledExampleRow.id)).scalars().all()
    latest: dict[Any, Any] = {}
    for row in rows:
        latest[row.mention_id if row.mention_id is not None else f"example-{row.id}"] = row
    return [Correction(id=row.id, text=row.text, sentiment=row.sentiment, complaint=bool(row.complaint),
                       language=row.language, category=row.urgency_category,
                       model_category=model_category(row.model_labels))
            for row in sorted(latest.values(), key=lambda r: r.id)]


def model_category(model_labels: dict[str, Any] | None) -> str | None:
    """Return the category the model had given a corrected post: a brand's own by its name, else the built-in one.

    The queue stores the model's labels with the correction (`monitor.queue.reclassify`); `category` is there only
    when the model's category differed from its `urgency_category` (a brand's own, "other" there).
    """
    labels = model_labels or {}
    name = labels.get("category") or labels.get("urgency_category")
    return str(name) if name else None


def _figures(figures: dict[str, float]) -> str:
    return (f"{figures['score']:.3f} (sentiment macro-F1 {figures['sentiment_macro_f1']:.3f}, "
            f"complaint macro-F1 {figures['complaint_macro_f1']:.3f})")


def _train(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    from models import ModelUnavailable
    from models.multilingual import MultilingualClassifier
    from models.transformer import TransformerClassifier
    from monitor.pipeline import build_classifier

    settings, db = load(ours["config_path"], ours["database_url"])
    named: tuple[str, ...] = ours["brand"]
    known = {b.name for b in settings.brands}
    for brand in named:
        if brand not in known:
            fail(f"--brand {brand!r} is not a configured brand ({', '.join(sorted(known))})")
    brands = list(named) or [b.name for b in settings.brands if b.own]
    try:
        classifier = build_classifier(settings)
    except ModelUnavailable as exc:
        fail(str(exc))
    if isinstance(classifier, MultilingualClassifier):
        classifier = classifier.english  # the English model's heads learn; e5's posts keep the shipped heads
    if not isinstance(classifier, TransformerClassifier):
        fail(f"classifier.kind is {settings.classifier.kind!r}: heads from corrections are fitted on the "
             "transformer's encoder; set classifier.kind: transformer")
        return
    from monitor.queue.confirmations import load_confirmations

    failed = trained = 0
    for brand in brands:
        corrections = load_corrections(db, brand)
        heads = _train_heads(classifier, settings, brand, corrections, load_confirmations(db, brand), ours, theirs,
                             named=bool(named))
        categories = _train_categories(classifier, settings, brand, corrections, ours, theirs)
        trained += heads is not None or categories is not None
        failed += heads is False or categories is False or (bool(named) and heads is None and categories is None)
    db.dispose()
    if failed or not trained:
        if not trained and not failed:
            click.echo("brandmon: error: no brand has enough corrections to learn from", err=True)
        raise SystemExit(1)


def _train_heads(classifier: Any, settings: Any, brand: str, corrections: list[Any], confirmations: list[Any],
                 ours: dict[str, Any], theirs: dict[str, Any], *, named: bool) -> bool | None:
    """Fit, check and save one brand's sentiment and complaint heads; return kept, refused (False) or None."""
    from models.corrections import brand_heads_file, save_brand_heads, train_from_corrections

    try:
        outcome = train_from_corrections(classifier, brand, corrections, confirmations=confirmations,
                                         holdout=ours["holdout"], seed=theirs["seed"], anchor=ours["anchor"],
                                         min_corrections=ours["min_corrections"])
    except ValueError as exc:
        click.echo(f"brandmon: {'error' if named else 'skipped'}: {exc}", err=True)
        return None
    where = (f"{outcome.brand}: heads fitted on {outcome.trained_on} of {outcome.given} posts "
             f"({outcome.given - outcome.confirmations} corrections, {outcome.confirmations} handled as read) score "
             f"{_figures(outcome.after)} on {outcome.held_out} held out; the current model scores "
             f"{_figures(outcome.before)}")
    path = brand_heads_file(settings.classifier.data_dir, brand)
    kept = _settle(where, outcome.accepted, "model is", path, brand,
                   lambda: save_brand_heads(path, outcome.heads, outcome.meta))
    if kept:
        classifier.use_brand_heads(brand, outcome.heads)  # the categories are checked with the heads that will run
    return kept


def _settle(where: str, accepted: bool, current: str, path: Path, brand: str, save: Callable[[], None]) -> bool:
    """Save what was learned at `path` and say so, or say it is refused; return whether it was kept."""
    if not accepted:
        click.echo(f"brandmon: error: {where}: worse, so the current {current} kept", err=True)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    save()
    click.echo(f"brandmon train: {where}: kept, saved {path}, which the classifier loads for {brand}")
    return True


def _category_figures(figures: dict[str, float]) -> str:
    return f"category macro-F1 {figures['macro_f1']:.3f}, accuracy {figures['accuracy']:.3f}"


def _train_categories(classifier: Any, settings: Any, brand: str, corrections: list[Any], ours: dict[str, Any],
                      theirs: dict[str, Any]) -> bool | None:
    """Learn, check and save what the corrections teach one brand's categories; return kept, refused or None."""
    from models.category_corrections import (
        brand_categories_file,
        load_category_feedback,
        save_category_feedback,
        train_categories,
    )

    path = brand_categories_file(settings.classifier.data_dir, brand)
    current = load_category_feedback(path)[0] if path.is_file() else []
    try:
        outcome = train_categories(classifier, brand, corrections, current=current, holdout=ours["holdout"],
                                   seed=theirs["seed"], min_corrections=ours["min_category_corrections"])
    except ValueError as exc:
        click.echo(f"brandmon: categories skipped: {exc}", err=True)
        return None
    where = (f"{outcome.brand}: categories taught by {outcome.taught} category corrections (of "
             f"{outcome.trained_on} used) score {_category_figures(outcome.after)} on {outcome.held_out} held-out "
             f"corrections; the current model scores {_category_figures(outcome.before)}")
    return _settle(where, outcome.accepted, "categories are", path, brand,
                   lambda: save_category_feedback(path, outcome))


_train.shared = ("seed",)  # type: ignore[attr-defined]


def _config_params() -> list[click.Parameter]:
    """Return -c/--config and --database-url as every command declares them (`config_options`)."""

    def holder() -> None:
        """Carry the options the decorators attach."""

    # click's decorators collect their parameters on the function, last applied first
    return list(reversed(getattr(config_options(holder), "__click_params__", [])))


def _options() -> list[click.Parameter]:
    return [
        click.Option(["--corrections"], is_flag=True, help="Learn per-brand heads from the stored corrections."),
        *_config_params(),
        click.Option(["--brand"], multiple=True, help="Only this brand (repeatable); default: every own brand."),
        click.Option(["--holdout"], type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.25,
                     show_default=True, help="Share of the corrections held out to check the new heads."),
        click.Option(["--min-corrections"], type=click.IntRange(min=6), default=20, show_default=True,
                     help="Fewest corrections a brand needs before heads are fitted for it."),
        click.Option(["--min-category-corrections"], type=click.IntRange(min=1), default=3, show_default=True,
                     help="Fewest category corrections (outside the held-out ones) to learn a brand's categories."),
        click.Option(["--anchor"], type=click.FloatRange(min=0), default=0.1, show_default=True,
                     help="Pull towards the current heads (L2 on the change of weights)."),
    ]


def register(main: click.Group) -> None:
    """Give `brandmon train` its --corrections mode."""
    if "train" in main.commands:
        extend_command(main, "train", _options(), _train, active="corrections", help_extra=CORRECTIONS_HELP)
