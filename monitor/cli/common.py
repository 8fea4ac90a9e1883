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


def _option_names(command: click.Command) -> set[str]:
    """Every option name `command` and, for a group, its subcommands declare."""
    names = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            names |= _option_names(sub)
    return names


class GlobalOptionsGroup(click.Group):
    """A group whose own options may also follow its subcommand: `brandmon sources query -c FILE`, `brandmon run -v`.

    Before parsing, the group's options found after the subcommand's name are moved in front of it, unless the
    subcommand (or one below it) declares an option of the same name; everything after `--` is left alone.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Hoist this group's options that follow the subcommand, then parse as usual."""
        return super().parse_args(ctx, self._hoist(list(args)))

    def _hoist(self, args: list[str]) -> list[str]:
        own = {name: param for param in self.params if isinstance(param, click.Option)
               for name in (*param.opts, *param.secondary_opts)}
        position = 0
        while position < len(args) and args[position] not in self.commands:
            if args[position] == "--":
                return args
            param = own.get(args[position].split("=", 1)[0])
            takes_value = param is not None and not (param.is_flag or param.count) and "=" not in args[position]
            position += 2 if takes_value else 1
        if position >= len(args):
            return args
        shadowed = _option_names(self.commands[args[position]])
        front, rest, index = args[:position], [args[position]], position + 1
        while index < len(args):
            token = args[index]
            if token == "--":
                rest.extend(args[index:])
                break
            name = token.split("=", 1)[0]
            param = own.get(name)
            if param is None and len(token) > 2 and token[0] == "-" and token[1] != "-" and len(set(token[1:])) == 1:
                param = own.get(token[:2])  # -vv: a repeated count flag
                name = token[:2]
            if param is None or name in shadowed:
                rest.append(token)
                index += 1
                continue
            takes_value = not (param.is_flag or param.count) and "=" not in token
            front.extend(args[index:index + 2] if takes_value else [token])
            index += 2 if takes_value else 1
        return front + rest


_CONSOLE_SLACK: list[Any] = []


def with_loopback_slack(settings: Settings) -> Settings:
    """With `slack.base_url: loopback`, start (once per process) the console loopback Slack and point at it.

    Each message is printed as Slack would show it and kept in `slack.loopback_log` for `brandmon alerts log`.
    """
    from alerts.loopback_console import LOOPBACK, ConsoleSlack

    if not settings.slack.enabled or settings.slack.base_url.strip().lower() != LOOPBACK:
        return settings
    if not _CONSOLE_SLACK:
        console = ConsoleSlack(Path(settings.slack.loopback_log), lambda text: click.echo("\n" + text))
        _CONSOLE_SLACK.append(console)
        click.echo(f"brandmon: Slack is a loopback here (slack.base_url: loopback): each message is printed and kept "
                   f"in {settings.slack.loopback_log}; `brandmon alerts log` shows them again")
    slack = settings.slack.model_copy(update={"base_url": _CONSOLE_SLACK[0].base_url})
    return settings.model_copy(update={"slack": slack})
