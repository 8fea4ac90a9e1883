"""`brandmon train`, `brandmon evaluate` and `brandmon bench classify`: the model commands.

torch is imported inside the command bodies so that `brandmon --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

DATA_DIR_HELP = "Folder with the labelled data (sentiment/, complaints/); default ../shared/data from here."


def _data_dir_option(func: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("..") / "shared" / "data",
        show_default=True,
        help=DATA_DIR_HELP,
    )(func)


def _model_options(func: Any) -> Any:
    func = click.option(
        "--heads",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Heads file from `brandmon train` (default: the shipped one for the built-in encoder).",
    )(func)
    return click.option(
        "--model",
        default="builtin",
        show_default=True,
        help="Encoder: builtin (pip-installed MiniLM), a local folder, or a Hugging Face hub id.",
    )(func)


@click.command("train")
@_data_dir_option
@_model_options
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the heads file (default: models/weights/ for the built-in encoder).")
@click.option("--seed", type=int, default=13, show_default=True, help="Seed for initialisation and data order.")
@click.option("--epochs", type=float, default=2.0, show_default=True, help="Passes over the sentiment data.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Sentiment posts per step.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate of the adapters.")
@click.option("--lora-rank", type=int, default=8, show_default=True, help="Rank of the low-rank adapters.")
@click.option("--eval-every", type=int, default=300, show_default=True, help="Steps between validation checks.")
@click.option("--complaint-sentiment/--no-complaint-sentiment", default=False, show_default=True,
              help="Also learn sentiment from the complaints set's (VADER-like) polarity labels.")
@click.option("--limit", type=int, default=None, help="Use at most this many posts per file (quick checks).")
@click.option("--threads", type=int, default=None, help="torch threads (default: all cores).")
def train_cmd(
    data_dir: Path, model: str, heads: Path | None, output: Path | None, seed: int, epochs: float,
    batch_size: int, lr: float, lora_rank: int, eval_every: int, complaint_sentiment: bool, limit: int | None,
    threads: int | None,
) -> None:
    """Train adapters and heads on train, choose on val, calibrate, and save one heads file."""
    from models.data import data_available
    from models.heads import BUILTIN_HEADS
    from models.training import TrainConfig, train

    if heads is not None:
        raise click.UsageError("--heads is for evaluate; train writes a new heads file, see --output")
    if not data_available(data_dir):
        raise click.ClickException(f"{data_dir}: labelled data not found (see shared/data/README.md); use --data-dir")
    if output is None:
        if model != "builtin":
            raise click.UsageError("--output is required when --model is not builtin")
        output = BUILTIN_HEADS
    result = train(
        TrainConfig(
            model=model, data_dir=data_dir, output=output, seed=seed, epochs=epochs, batch_size=batch_size,
            lr=lr, lora_rank=lora_rank, eval_every=eval_every, complaint_sentiment=complaint_sentiment, limit=limit,
            num_threads=threads,
        )
    )
    click.echo(
        f"saved {result.output} ({result.output.stat().st_size / 1e6:.1f} MB) after {result.steps} steps in "
        f"{result.seconds / 60:.1f} min; best step {result.best_step}: "
        + ", ".join(f"val {k} {v:.4f}" for k, v in result.val.items())
    )


@click.command("evaluate")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_data_dir_option
@_model_options
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="Benchmark split to report (choose on val, report test once).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Report the VADER lexicon model beside the transformer.")
@click.option("--limit", type=int, default=None, help="Use at most this many posts per file.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of a table.")
def evaluate_cmd(
    file: Path | None, data_dir: Path, model: str, heads: Path | None, split: str, baseline: bool,
    limit: int | None, as_json: bool,
) -> None:
    """Report macro-recall, macro-F1, accuracy, per-class recall and ECE on the benchmarks or FILE.jsonl.

    Rows of FILE.jsonl with a `lang` field get per-language rows too; the VADER baseline shows only for English.
    """
    from models import ModelUnavailable, load_classifier
    from models.data import DataError, data_available, load_examples
    from models.evaluation import as_json as to_json
    from models.evaluation import evaluate_benchmarks, evaluate_by_language, format_table

    if file is None and not data_available(data_dir):
        raise click.ClickException(f"{data_dir}: labelled data not found; use --data-dir or give FILE.jsonl")
    try:
        classifiers = [load_classifier("transformer", model=model, heads=heads)]
        if baseline:
            classifiers.append(load_classifier("lexicon"))
    except ModelUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    progress = not as_json
    try:
        if file is not None:
            examples = load_examples(file, limit=limit)
            results = evaluate_by_language(classifiers, examples, label=file.name, progress=progress)
        else:
            results = evaluate_benchmarks(classifiers, data_dir, split=split, limit=limit, progress=progress)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(to_json(results), indent=2))
    else:
        click.echo(format_table(results))


@click.command("classify")
@click.option("--kind", type=click.Choice(["transformer", "lexicon"]), default="transformer", show_default=True)
@_model_options
@_data_dir_option
@click.option("--posts", type=int, default=2000, show_default=True, help="Posts to classify in batches.")
@click.option("--single", type=int, default=200, show_default=True, help="Posts to classify one at a time.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--threads", type=int, default=None, help="torch threads (default: the classifier's, 1).")
@click.option("--option", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A transformer option, as in the config's classifier.options (repeatable); "
                   "model_categories=false measures the keyword categories alone.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_classify_cmd(
    kind: str, model: str, heads: Path | None, data_dir: Path, posts: int, single: int, batch_size: int,
    threads: int | None, pairs: tuple[str, ...], as_json: bool,
) -> None:
    """Measure posts/s batched, single-post p50/p99 latency and peak RSS with the model loaded.

    The transformer runs with every head the example config runs: sentiment, complaint, severity, irony,
    needs-a-reply and categories from the encoder (`model_categories`).
    """
    from models import ModelUnavailable, load_classifier, parse_options
    from models.throughput import EVERY_HEAD, bench_classifier, bench_texts

    options: dict[str, Any] = {}
    if kind == "transformer":
        options = {"model": model, "heads": heads, "batch_size": batch_size, **EVERY_HEAD}
        if threads is not None:
            options["num_threads"] = threads
        try:
            options.update(parse_options(pairs))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--option") from exc
    elif pairs:
        raise click.BadParameter("the lexicon model takes no options", param_hint="--option")
    try:
        result = bench_classifier(
            lambda: load_classifier(kind, **options),
            bench_texts(data_dir, posts),
            batch_size=batch_size,
            single_posts=single,
        )
    except ModelUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.format())


def register(main: click.Group) -> None:
    """Add `train` and `evaluate` to the brandmon group and `classify` to its `bench` group."""
    main.add_command(train_cmd)
    main.add_command(evaluate_cmd)
    bench = main.commands.get("bench")
    if not isinstance(bench, click.Group):
        bench = click.Group("bench", help="Measure speed and memory.")
        main.add_command(bench)
    bench.add_command(bench_classify_cmd)
