"""`brandmon check`: validate everything `brandmon run` will need, one line per problem with its key path and a fix.

Only what can be known without the network is checked: plugin names, credentials in the environment, files that
replay sources read, the brands' queries, and that the database opens and is current.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from core.registry import PluginUnavailable, load_entry, suggest
from core.settings import Secrets, Settings
from monitor.cli.common import config_options, fail, load

#: Secrets each network needs to read at all, by source type, as (any of these sets of variables).
_X_WRITE = ("BRANDMON_X_CONSUMER_KEY", "BRANDMON_X_CONSUMER_SECRET", "BRANDMON_X_ACCESS_TOKEN",
            "BRANDMON_X_ACCESS_TOKEN_SECRET")


def _has(secrets: Secrets, variable: str) -> bool:
    value = getattr(secrets, variable.removeprefix("BRANDMON_").lower(), None)
    return value is not None and bool(value.get_secret_value())


def _source_problems(settings: Settings, secrets: Secrets) -> list[str]:
    from sources import REGISTRY, SourceError, build_source, source_class

    problems: list[str] = []
    for i, config in enumerate(settings.sources):
        where = f"sources[{i}]"
        if config.type not in REGISTRY:
            hint = suggest(config.type, REGISTRY) or f"; known: {', '.join(sorted(REGISTRY))}"
            problems.append(f"{where}.type: {config.type!r} is not a source type{hint}")
            continue
        if not config.enabled:
            continue
        found = len(problems)
        if config.type == "replay":
            path = config.options.get("path")
            if not path:
                problems.append(f"{where}.options.path: a replay source needs the file to read (a .jsonl or .csv)")
            elif not Path(str(path)).expanduser().is_file():
                problems.append(f"{where}.options.path: {path} does not exist (relative paths are read from "
                                f"{os.getcwd()})")
        elif config.type == "x":
            if not _has(secrets, "BRANDMON_X_BEARER_TOKEN") and not all(_has(secrets, v) for v in _X_WRITE):
                problems.append(f"{where}: X needs BRANDMON_X_BEARER_TOKEN in the environment (or the four "
                                f"{', '.join(_X_WRITE)} to read mentions and reply)")
        elif config.type == "reddit":
            needed = ("BRANDMON_REDDIT_CLIENT_ID", "BRANDMON_REDDIT_CLIENT_SECRET")
            missing = [v for v in needed if not _has(secrets, v)]
            if missing:
                problems.append(f"{where}: Reddit needs {' and '.join(missing)} in the environment")
        else:
            try:
                required = source_class(config.type).required_secrets()
            except SourceError:
                required = ()  # the build below reports a missing SDK
            missing = [v for v in required if not _has(secrets, v)]
            if missing:
                problems.append(f"{where}: {config.type} needs {' and '.join(missing)} in the environment")
        if len(problems) == found:  # nothing found statically: build it, as `run` will
            brand = settings.brand(config.brand)
            try:
                build_source(config.type, name=config.name, brand=config.brand, options=config.options,
                             query=brand.query, handles=brand.handles, secrets=secrets)
            except SourceError as exc:
                problems.append(f"{where}: {exc}")
    return problems


def _classifier_problems(settings: Settings) -> list[str]:
    from models import REGISTRY

    kind = settings.classifier.kind
    if kind not in REGISTRY:
        hint = suggest(kind, REGISTRY) or f"; known: {', '.join(sorted(REGISTRY))}"
        return [f"classifier.kind: {kind!r} is not a classifier{hint}"]
    try:
        load_entry(REGISTRY, kind, what="classifier")
    except PluginUnavailable as exc:
        return [f"classifier.kind: {exc} (install its extra, or use 'lexicon')"]
    return []


def _slack_problems(settings: Settings, secrets: Secrets) -> list[str]:
    slack = settings.slack
    if not slack.enabled or slack.base_url == "loopback" or "slack.com" not in slack.base_url:
        return []
    if _has(secrets, "BRANDMON_SLACK_BOT_TOKEN"):
        return []
    return ["slack: Slack is enabled at slack.com but BRANDMON_SLACK_BOT_TOKEN is not in the environment; set it, "
            "set slack.enabled: false, or use slack.base_url: loopback to print the messages instead"]


def _brand_problems(settings: Settings) -> list[str]:
    from core.query import QueryError, parse_query

    problems = []
    for i, brand in enumerate(settings.brands):
        try:
            parse_query(brand.query)
        except QueryError as exc:
            problems.append(f"brands[{i}].query: {exc}")
    return problems


def config_problems(settings: Settings, secrets: Secrets | None = None) -> list[str]:
    """Return one line per thing that would stop or break `brandmon run`, each naming its key path."""
    secrets = secrets if secrets is not None else Secrets.from_env()
    return (_brand_problems(settings) + _source_problems(settings, secrets) + _classifier_problems(settings)
            + _slack_problems(settings, secrets))


@click.command()
@config_options
def check(config_path: Path, database_url: str | None) -> None:
    """Validate the config file, credentials, files and database that `run` needs; exit 1 on any problem."""
    settings, db = load(config_path, database_url)
    problems = config_problems(settings)
    for problem in problems:
        click.echo(f"{config_path}: {problem}", err=True)
    if problems:
        fail(f"{config_path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}; `brandmon run` would not "
             "work as configured")
    click.echo(f"{config_path}: ok — {len(settings.brands)} brands, {len(settings.sources)} sources, "
               f"{len(settings.slack.routes)} Slack routes; database {db.redacted_url()} is current")


def register(main: click.Group) -> None:
    """Add `brandmon check` to `main`."""
    main.add_command(check)
