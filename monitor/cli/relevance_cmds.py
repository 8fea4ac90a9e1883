"""`brandmon train --relevance [-c CONFIG] [--brand B]`: learn per-brand relevance filters from "not relevant" clicks.

It extends the model command `brandmon train` (monitor/cli/model_cmds.py) as `--corrections` does, sharing its
`-c/--config`, `--database-url`, `--brand`, `--holdout` and `--seed` where that mode declared them. The clicks are
read from the audit log (`monitor/queue/relevance_clicks.py`); the filter is fitted and checked in
`models/relevance.py`. Under `classifier.kind: multilingual` each brand gets two: one on the English model's
vectors and one on multilingual-e5's, each kept or refused on its own held-out clicks. `filter_lines` is what
`brandmon sources` shows for each brand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import config_options, fail, load
from monitor.cli.extend import extend_command

RELEVANCE_HELP = (
    "With --relevance: fit each own brand's relevance filter (is this post about us?) on the posts people marked not "
    "relevant and those they handled, in the database of -c CONFIG (under classifier.kind multilingual, a second "
    "one on e5's vectors for the posts in other languages); keep it under classifier.data_dir (relevance/) "
    "only when its held-out precision of \"not relevant\" reaches --precision-floor, else keep no filter; exits 1 "
    "when a brand's filter is refused (README, \"Learning from corrections\")."
)
#: Options of the `--corrections` mode this mode reads too, when that mode declared them.
SHARED = ("config_path", "database_url", "brand", "holdout", "seed")
#: Texts embedded per step of the progress bar.
EMBED_STEP = 256


def _progress_embed(embed: Callable[[Sequence[str]], Any], brand: str) -> Callable[[Sequence[str]], Any]:
    """Return `embed` showing a progress bar on stderr as it goes through the texts."""
    import torch

    def run(texts: Sequence[str]) -> Any:
        parts = []
        with click.progressbar(length=len(texts), label=f"{brand}: encoding {len(texts)} posts",
                               file=sys.stderr) as bar:
            for start in range(0, len(texts), EMBED_STEP):
                chunk = texts[start : start + EMBED_STEP]
                parts.append(embed(chunk))
                bar.update(len(chunk))
        return torch.cat(parts) if parts else torch.zeros((0, 0))

    return run


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _train(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    from models import ModelUnavailable
    from models.multilingual import MultilingualClassifier
    from models.relevance import ml_relevance_file, relevance_file
    from models.transformer import TransformerClassifier
    from monitor.pipeline import build_classifier
    from monitor.queue.relevance_clicks import load_clicks

    values = {**theirs, **ours}
    settings, db = load(values["config_path"], values["database_url"])
    named: tuple[str, ...] = tuple(values.get("brand") or ())
    known = {b.name for b in settings.brands}
    for brand in named:
        if brand not in known:
            fail(f"--brand {brand!r} is not a configured brand ({', '.join(sorted(known))})")
    try:
        classifier = build_classifier(settings)
    except ModelUnavailable as exc:
        fail(str(exc))
    kinds: list[_Kind] = []
    if isinstance(classifier, MultilingualClassifier):
        # the English model's posts are filtered on its vectors, e5's on e5's, fitted on every language e5 reads
        # (English clicks teach it too)
        meta = classifier.e5_meta
        kinds.append(_Kind("", classifier.english.embed, classifier.english.heads_meta.encoder,
                           classifier.english.heads_meta.hidden_size, classifier.english.languages, relevance_file))
        kinds.append(_Kind(" (e5)", classifier.embed, meta.encoder, meta.hidden_size, classifier.e5_languages,
                           ml_relevance_file))
    elif isinstance(classifier, TransformerClassifier):
        meta = classifier.heads_meta
        kinds.append(_Kind("", classifier.embed, meta.encoder, meta.hidden_size, classifier.languages,
                           relevance_file))
    else:
        fail(f"classifier.kind is {settings.classifier.kind!r}: relevance filters are fitted on the transformer's "
             "encoder; set classifier.kind: transformer or multilingual")
    refused = kept = 0
    for brand in named or tuple(b.name for b in settings.brands if b.own):
        clicks = load_clicks(db, brand)
        for kind in kinds:
            if _fit(kind, brand, clicks, settings.classifier.data_dir, values):
                kept += 1
            else:
                refused += 1
    db.dispose()
    if refused or not kept:
        raise SystemExit(1)


@dataclass(frozen=True, slots=True)
class _Kind:
    """One encoder's relevance filters: how to embed posts for it, what it reads, where its filters live."""

    #: Added to the brand's name in what is printed.
    label: str
    embed: Callable[[Sequence[str]], Any]
    encoder: str
    hidden_size: int
    languages: frozenset[str]
    where: Callable[[str, str], Path]


def _fit(kind: _Kind, brand: str, clicks: Sequence[Any], data_dir: str, values: dict[str, Any]) -> bool:
    """Fit, check and keep (or refuse and remove) `brand`'s filter of `kind`; return True when it is kept."""
    from models.relevance import save_filter, train_relevance

    name = brand + kind.label
    outcome = train_relevance(
        _progress_embed(kind.embed, name), brand, clicks, encoder=kind.encoder, hidden_size=kind.hidden_size,
        languages=kind.languages, holdout=values["holdout"], seed=values["seed"],
        precision_floor=values["precision_floor"], min_clicks=values["min_clicks"])
    path = kind.where(data_dir, brand)
    counts = (f"{name}: {outcome.counts['not_relevant']} not-relevant clicks, {outcome.counts['relevant']} "
              "handled posts" + (f" ({outcome.skipped} in languages the model does not read)"
                                 if outcome.skipped else ""))
    if outcome.held_out:
        counts += (f"; held out {outcome.held_out['not_relevant']} + {outcome.held_out['relevant']}: precision "
                   f"{_figure(outcome.precision)}, recall {_figure(outcome.recall)} of \"not relevant\" at "
                   f"threshold {_figure(outcome.threshold)}")
    if not outcome.accepted or outcome.filter is None:
        dropped = path.is_file()
        if dropped:
            path.unlink()
        click.echo(f"brandmon: refused: {counts}; {outcome.refusal}, so no filter is kept"
                   + (f" (removed the earlier {path})" if dropped else ""), err=True)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    save_filter(path, outcome.filter)
    click.echo(f"brandmon train: kept: {counts}; saved {path}, which hides {brand}'s posts from then on")
    return True


def _options(existing: set[str]) -> list[click.Parameter]:
    """Return this mode's options, with those of `SHARED` that the command does not declare yet."""
    own: list[click.Parameter] = [
        click.Option(["--relevance"], is_flag=True,
                     help="Learn per-brand relevance filters from the stored \"not relevant\" clicks."),
        click.Option(["--precision-floor"], type=click.FloatRange(0, 1, min_open=True), default=0.9,
                     show_default=True, help="Held-out precision of \"not relevant\" a filter needs to be kept."),
        click.Option(["--min-clicks"], type=click.IntRange(min=10), default=20, show_default=True,
                     help="Fewest not-relevant clicks (and handled posts) a brand needs before a filter is fitted."),
    ]
    missing: list[click.Parameter] = [p for p in config_options(click.Command("holder")).params
                                      if p.name not in existing]
    if "brand" not in existing:
        missing.append(click.Option(["--brand"], multiple=True, help="Only this brand (repeatable)."))
    if "holdout" not in existing:
        missing.append(click.Option(["--holdout"], type=click.FloatRange(0, 1, min_open=True, max_open=True),
                                    default=0.25, show_default=True, help="Share of the clicks held out."))
    return own + missing


def filter_lines(settings: Any, db: Any) -> list[str]:
    """Return one line per own brand and filter: its state, the clicks it used, its precision, posts hidden.

    Under `classifier.kind: multilingual` (or where one was kept) the filter on e5's vectors has a line of its own.
    """
    from models.relevance import ml_relevance_file, relevance_file

    lines = []
    for brand in (b for b in settings.brands if b.own):
        name = _safe(brand.name)
        lines.append(_filter_line(db, brand.name, relevance_file(settings.classifier.data_dir, brand.name), name))
        e5 = ml_relevance_file(settings.classifier.data_dir, brand.name)
        if settings.classifier.kind == "multilingual" or e5.is_file():
            lines.append(_filter_line(db, brand.name, e5, name, kind="e5 "))
    return lines


def _filter_line(db: Any, brand: str, path: Path, name: str, *, kind: str = "") -> str:
    """Return the state of `brand`'s filter file at `path`: missing, unreadable, or what it was fitted on."""
    from models.heads import HeadsUnavailable
    from models.relevance import load_filter
    from monitor.pipeline.route.relevance import filtered_since

    if not path.is_file():
        return (f"{name}: no {kind}relevance filter (`brandmon train --relevance` learns one from "
                "\"not relevant\" clicks)")
    title = f"{name}: {kind}relevance filter"
    try:
        meta = load_filter(path).meta
        trained_at = datetime.fromisoformat(meta.created_at)
    except (HeadsUnavailable, ValueError) as exc:
        return f"{title} unreadable: {_safe(str(exc))}"
    with db.session() as session:
        hidden = filtered_since(session, brand, trained_at)
    return (f"{title} trained {trained_at:%Y-%m-%d %H:%M}Z on {meta.clicks} clicks "
            f"({meta.trained.get('not_relevant', 0) + meta.held_out.get('not_relevant', 0)} not relevant), "
            f"held-out precision {meta.precision:.3f}, recall {meta.recall:.3f}; {hidden} posts filtered since")


def _safe(text: str) -> str:
    """Return a brand name or message safe to print on a terminal, cut to a readable length."""
    from core.textsafe import cut, for_terminal

    return cut(for_terminal(text), 200)


def register(main: click.Group) -> None:
    """Give `brandmon train` its --relevance mode."""
    if "train" not in main.commands:
        return
    existing = {str(p.name) for p in main.commands["train"].params}
    _train.shared = tuple(name for name in SHARED if name in existing)  # type: ignore[attr-defined]
    extend_command(main, "train", _options(existing), _train, active="relevance", help_extra=RELEVANCE_HELP)
