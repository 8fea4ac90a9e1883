"""Options and helpers shared by the command modules."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from core.settings import ConfigError, Settings, load_settings
from core.storage import Database

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = "brandmon.yaml"


def config_options(func: F) -> F:
    """Add --config and --database-url to a command."""
    func = click.option("--database-url", envvar=None, default=None,
                        help="Database URL; overrides BRANDMON_DATABASE_URL and the config file.")(func)
    func = click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
                        type=click.Path(dir_okay=False, path_type=Path), help="The YAML config file.")(func)
    return func


def load(config_path: Path, database_url: str | None) -> tuple[Settings, Database]:
    """Load settings and open (and migrate) the database, or exit with one clear line."""
    try:
        settings = load_settings(config_path, database_url=database_url)
    except ConfigError as exc:
        fail(str(exc))
    db = Database(settings.database_url)
    try:
        db.migrate()
    except Exception as exc:  # any driver error: say where, without the password
        fail(f"database {db.redacted_url()}: cannot open or migrate: {type(exc).__name__}: {exc}")
    return settings, db


def fail(message: str) -> Any:
    """Print `message` as one line on stderr and exit with status 2."""
    click.echo(f"brandmon: error: {message}", err=True)
    sys.exit(2)
