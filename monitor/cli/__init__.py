"""The `brandmon` command line: one click group; each area registers its commands from its own module."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from monitor import __version__
from monitor.cli.common import GlobalOptionsGroup

#: Modules that add commands; each defines `register(main)`.
COMMAND_MODULES = (
    "monitor.cli.core",
    "monitor.cli.check_cmds",
    "monitor.cli.backfill_cmds",
    "monitor.cli.sources_cmds",
    "monitor.cli.model_cmds",
    "monitor.cli.evaluate_cmds",
    "monitor.cli.calibrate_cmds",
    "monitor.cli.corrections_cmds",
    "monitor.cli.relevance_cmds",
    "monitor.cli.alert_cmds",
    "monitor.cli.queue_cmds",
    "monitor.cli.language_cmds",
    "monitor.cli.digest_cmds",
    "monitor.cli.bench_cmds",
)


@click.group(cls=GlobalOptionsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="brandmon")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """brandmon: find the unhappy customer fast and answer them in public."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # every handler redacts credentials and Authorization values, whichever library logs them (README, "Security")
    from core.redact import install_redaction
    from core.settings import Secrets

    Secrets.from_env()  # registers every BRANDMON_* secret with the redaction
    install_redaction()


@main.group(invoke_without_command=True)
@click.option("--quick", is_flag=True, help="Smaller runs (20k backfill instead of 100k) for a quick look.")
@click.option("--postgres-url", default=None, help="PostgreSQL for its figures (default: BRANDMON_BENCH_POSTGRES_URL, "
              "else postgres@127.0.0.1:5432/test); a fresh schema is used and dropped.")
@click.option("--skip", multiple=True, type=click.Choice(["ingest", "classify", "latency", "backfill", "scaling"]),
              help="Leave a section out (repeatable).")
@click.option("--backfill-classifier", default="lexicon", show_default=True, help="Classifier of the backfill runs.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown (for the README).")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write JSON here.")
@click.pass_context
def bench(ctx: click.Context, quick: bool, postgres_url: str | None, skip: tuple[str, ...], backfill_classifier: str,
          markdown: bool, json_out: Path | None) -> None:
    """Measure speed and memory; each figure is printed next to its target (all of them when run alone)."""
    if ctx.invoked_subcommand is None:
        from monitor.cli.bench_cmds import print_full_table

        print_full_table(quick=quick, postgres_url=postgres_url, skip=skip, backfill_classifier=backfill_classifier,
                         markdown=markdown, json_out=json_out)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # an area that has not landed yet
                continue
            raise
        module.register(main)


_register_all()
