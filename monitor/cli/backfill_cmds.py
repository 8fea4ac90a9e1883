"""`brandmon backfill`: read every enabled source to its end as history, print a summary, exit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from monitor.cli.common import config_options, fail, load, with_loopback_slack


def parse_since(value: str | None) -> datetime | None:
    """Parse `--since` (a date, or an ISO date and time; UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {value!r}: expected a date (2017-10-30) or an ISO date and time")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@click.command()
@config_options
@click.option("--since", default=None, metavar="DATE", help="Keep only posts from this date on (UTC).")
def backfill(config_path: Path, database_url: str | None, since: str | None) -> None:
    """Read every enabled source to its end; classify, route and queue it as history; print a summary."""
    from monitor.pipeline import Pipeline
    from monitor.pipeline.backfill import run_backfill

    start = parse_since(since)
    settings, db = load(config_path, database_url)
    settings = with_loopback_slack(settings)
    pipeline = Pipeline.from_settings(settings, db)
    if not pipeline.sources:
        fail(f"{config_path}: no enabled source could start; `brandmon check -c {config_path}` says why")
    click.echo(f"brandmon backfill: {len(pipeline.sources)} sources into {db.redacted_url()}; posts older than "
               f"{settings.slack.max_age_min} min are history (no Slack alerts, no deadlines to breach)")
    summary = run_backfill(pipeline, since=start)
    click.echo("backfill done:")
    for line in summary.lines():
        click.echo(line)


def register(main: click.Group) -> None:
    """Add `brandmon backfill` to `main`."""
    main.add_command(backfill)
