"""`brandmon train --relevance [-c CONFIG] [--brand B]`: learn per-brand relevance filters from "not relevant" clicks.

It extends the model command `brandmon train` (monitor/cli/model_cmds.py) as `--corrections` does, sharing its
`-c/--config`, `--database-url`, `--brand`, `--holdout` and `--seed` where that mode declared them. The clicks are
read from the audit log (`monitor/queue/relevance_clicks.py`); the filter is fitted and checked in
`models/relevance.py`. `filter_lines` is what `brandmon sources` shows for each brand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click

from monitor.cli.common import config_options, fail, load
from monitor.cli.extend import extend_command

RELEVANCE_HELP = (
    "With --relevance: fit each own brand's relevance filter (is this post about us?) on the posts people marked not "
    "relevant and those they handled, in the database of -c CONFIG; keep it under classifier.data_dir (relevance/) "
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
    from models.relevance import relevance_file, save_filter, train_relevance
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
    if isinstance(classifier, MultilingualClassifier):
        classifier = classifier.english  # the filter reads the English encoder's vectors, as the router's posts do
    if not isinstance(classifier, TransformerClassifier):
        fail(f"classifier.kind is {settings.classifier.kind!r}: relevance filters are fitted on the transformer's "
             "encoder; set classifier.kind: transformer")
        return
    meta = classifier.heads_meta
    refused = kept = 0
    for brand in named or tuple(b.name for b in settings.brands if b.own):
        clicks = load_clicks(db, brand)
        outcome = train_relevance(
            _progress_embed(classifier.embed, brand), brand, clicks, encoder=meta.encoder,
            hidden_size=meta.hidden_size, languages=classifier.languages, holdout=values["holdout"],
            seed=values["seed"], precision_floor=ours["precision_floor"], min_clicks=ours["min_clicks"])
        path = relevance_file(settings.classifier.data_dir, brand)
        counts = (f"{brand}: {outcome.counts['not_relevant']} not-relevant clicks, {outcome.counts['relevant']} "
                  "handled posts" + (f" ({outcome.skipped} in languages the model does not read)"
                                     if outcome.skipped else ""))
        if outcome.held_out:
            counts += (f"; held out {outcome.held_out['not_relevant']} + {outcome.held_out['relevant']}: precision "
                       f"{_figure(outcome.precision)}, recall {_figure(outcome.recall)} of \"not relevant\" at "
                       f"threshold {_figure(outcome.threshold)}")
        if not outcome.accepted or outcome.filter is None:
            refused += 1
            dropped = path.is_file()
            if dropped:
                path.unlink()
            click.echo(f"brandmon: refused: {counts}; {outcome.refusal}, so no filter is kept"
                       + (f" (removed the earlier {path})" if dropped else ""), err=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        save_filter(path, outcome.filter)
        kept += 1
        click.echo(f"brandmon train: kept: {counts}; saved {path}, which hides {brand}'s posts from then on")
    db.dispose()
    if refused or not kept:
        raise SystemExit(1)


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
    """Return one line per own brand: its relevance filter's state, the clicks it used, its precision, posts hidden."""
    from models.heads import HeadsUnavailable
    from models.relevance import load_filter, relevance_file
    from monitor.pipeline.route.relevance import filtered_since

    lines = []
    for brand in (b for b in settings.brands if b.own):
        path = relevance_file(settings.classifier.data_dir, brand.name)
        name = _safe(brand.name)
        if not path.is_file():
            lines.append(f"{name}: no relevance filter (`brandmon train --relevance` learns one from "
                         "\"not relevant\" clicks)")
            continue
        try:
            meta = load_filter(path).meta
            trained_at = datetime.fromisoformat(meta.created_at)
        except (HeadsUnavailable, ValueError) as exc:
            lines.append(f"{name}: relevance filter unreadable: {_safe(str(exc))}")
            continue
        with db.session() as session:
            hidden = filtered_since(session, brand.name, trained_at)
        lines.append(f"{name}: relevance filter trained {trained_at:%Y-%m-%d %H:%M}Z on {meta.clicks} clicks "
                     f"({meta.trained.get('not_relevant', 0) + meta.held_out.get('not_relevant', 0)} not relevant), "
                     f"held-out precision {meta.precision:.3f}, recall {meta.recall:.3f}; "
                     f"{hidden} posts filtered since")
    return lines


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
