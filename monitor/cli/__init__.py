"""The `brandmon` command line: one click group; each area registers its commands from its own module."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from monitor import __version__

#: Modules that add commands; each defines `register(main)`.
COMMAND_MODULES = (
    "monitor.cli.core",
    "monitor.cli.sources_cmds",
    "monitor.cli.model_cmds",
    "monitor.cli.alert_cmds",
    "monitor.cli.queue_cmds",
    "monitor.cli.digest_cmds",
    "monitor.cli.bench_cmds",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="brandmon")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """brandmon: find the unhappy customer fast and answer them in public."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@main.group()
def bench() -> None:
    """Measure speed and memory; each figure is printed next to its target."""


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
