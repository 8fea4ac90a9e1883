"""Core commands: init, run, demo, status."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from config import EXAMPLE_CONFIG
from monitor.cli.common import config_options, fail, load, with_loopback_slack


@click.command()
@click.option("--path", "target", default="brandmon.yaml", show_default=True, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(target: Path, force: bool) -> None:
    """Write a starter config file to edit."""
    if target.exists() and not force:
        fail(f"{target} already exists; pass --force to overwrite it")
    shutil.copyfile(EXAMPLE_CONFIG, target)
    click.echo(f"wrote {target}; edit the brands and sources, then run `brandmon run -c {target}`")


@click.command()
@config_options
def run(config_path: Path, database_url: str | None) -> None:
    """Run the scheduler in the foreground until Ctrl-C."""
    from monitor.pipeline import Pipeline
    from monitor.scheduler import run_forever

    settings, db = load(config_path, database_url)
    settings = with_loopback_slack(settings)
    pipeline = Pipeline.from_settings(settings, db)

    def rebuild() -> Pipeline:
        from core.settings import ConfigError, load_settings

        fresh = with_loopback_slack(load_settings(config_path, database_url=database_url))
        if fresh.database_url != settings.database_url:
            raise ConfigError(f"{config_path}: database_url cannot change on reload; restart brandmon run")
        return Pipeline.from_settings(fresh, db)

    click.echo(f"brandmon: {len(pipeline.sources)} sources, classifier {pipeline.classifier.describe()}, "
               f"database {db.redacted_url()}; Ctrl-C stops, SIGHUP reloads {config_path}")
    run_forever(pipeline, reload=rebuild)


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("brandmon-demo"),
              show_default=True, help="Where the demo database, digests and serve config go (a new run clears it).")
@click.option("--classifier", default=None, help="Classifier to use instead of the demo's default.")
@click.option("--quiet-alerts", is_flag=True, help="Do not print each Slack message and each responder's action.")
def demo(workdir: Path, classifier: str | None, quiet_alerts: bool) -> None:
    """Replay a bundled week ending now, with a team answering the queue; write the digest; say how to serve it."""
    from monitor.demo.runner import run_demo

    run_demo(workdir=workdir, classifier=classifier, show_alerts=not quiet_alerts)


def register(main: click.Group) -> None:
    """Add the core commands to `main`."""
    for command in (init, run, demo):  # `check` lives in monitor/cli/check_cmds.py
        main.add_command(command)
