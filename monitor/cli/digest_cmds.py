"""`brandmon digest`: write a brand's weekly report and queue its Slack summary."""

from __future__ import annotations

import os
from pathlib import Path

import click

from core.settings import DATABASE_URL_ENV, DigestSettings
from core.storage import Database
from core.storage.schema import utcnow
from core.textsafe import for_terminal
from monitor.cli.common import DEFAULT_CONFIG, fail, load


def _open_database(url: str) -> Database:
    db = Database(url)
    try:
        db.migrate()
    except Exception as exc:  # any driver error: say where, without the password
        fail(f"database {db.redacted_url()}: cannot open or migrate: {type(exc).__name__}: {exc}")
    return db


@click.command()
@click.option("-c", "--config", "config_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help=f"The YAML config file [default: {DEFAULT_CONFIG} if present; optional with --database-url].")
@click.option("--database-url", default=None, help="Database URL; overrides BRANDMON_DATABASE_URL and the config.")
@click.option("--brand", default=None, help="The brand to report on [default: the only own brand configured].")
@click.option("--week", "week_text", default=None, metavar="YYYY-Www",
              help="ISO week, e.g. 2026-W47 [default: the last full week].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write [default: <digest.out_dir>/<brand>-<week>.html].")
@click.option("--no-slack", is_flag=True, help="Do not queue the Slack summary.")
@click.option("--competitor", "competitors", multiple=True,
              help="Compare with this brand (repeatable) [default: brands[].competitors, or every other stored brand].")
@click.option("--themes", "theme_embedder", type=click.Choice(["minilm", "tfidf"]), default=None,
              help="How complaints are grouped [default: digest.theme_embedder].")
def digest(config_path: Path | None, database_url: str | None, brand: str | None, week_text: str | None,
           out: Path | None, no_slack: bool, competitors: tuple[str, ...], theme_embedder: str | None) -> None:
    """Write the weekly digest of one brand as a self-contained HTML page and queue its Slack summary."""
    from monitor.digest.data import stored_brands
    from monitor.digest.job import make_digest
    from monitor.digest.weeks import last_full_week, parse_week

    if out is not None and out.suffix.lower() == ".json":
        fail(f"--out {out}: the digest writes its figures to <out>.json beside the HTML, so --out must not end in "
             ".json (it would overwrite them); use e.g. --out report.html")
    url = database_url or os.environ.get(DATABASE_URL_ENV)
    if config_path is None and (url is None or Path(DEFAULT_CONFIG).is_file()):
        config_path = Path(DEFAULT_CONFIG)
    settings = None
    if config_path is not None:
        settings, db = load(config_path, database_url)
        options = settings.digest
    else:
        assert url is not None
        db, options = _open_database(url), DigestSettings()
    if theme_embedder:
        options = options.model_copy(update={"theme_embedder": theme_embedder})
    now = utcnow()
    try:
        week = parse_week(week_text, timezone=options.timezone) if week_text else last_full_week(
            now, timezone=options.timezone)
    except ValueError as exc:
        fail(f"--week: {exc}")
    brand_words: list[str] = []
    if settings is not None:
        own = [b.name for b in settings.brands if b.own]
        if brand is None:
            if len(own) != 1:
                fail(f"--brand is needed: the config has {len(own)} own brands ({', '.join(own)})")
            brand = own[0]
        try:
            configured = settings.brand(brand)
        except KeyError:
            fail(f"--brand: {brand!r} is not configured in {config_path}; known: "
                 f"{', '.join(b.name for b in settings.brands)}")
        brand_words = [h for n in configured.handles for h in configured.accounts(n)]
        rivals = list(competitors) or list(configured.competitors)
    else:
        present = stored_brands(db, week.start, week.end)
        if brand is None:
            if len(present) != 1:
                fail(f"--brand is needed: {len(present)} brands have mentions in {week.label} "
                     f"({', '.join(present) or 'none'})")
            brand = present[0]
        rivals = list(competitors) or [name for name in present if name != brand]
    channel = None if no_slack else options.slack_channel
    result = make_digest(db, brand=brand, week=week, now=now, options=options, competitors=rivals,
                         brand_words=brand_words, out=out, slack_channel=channel,
                         cases=settings.cases if settings is not None else None,
                         sla=settings.sla if settings is not None else None)
    d = result.digest
    click.echo(f"brandmon digest: {for_terminal(brand)} {week.label}: {d.volume.total} mentions, "
               f"{d.complaints} complaints in {len(d.themes)} themes, {len(d.competitors)} competitors")
    click.echo(f"  report  {result.html_path}")
    click.echo(f"  figures {result.json_path}")
    if no_slack:
        click.echo("  Slack   not queued (--no-slack)")
    elif channel is None:
        click.echo("  Slack   no digest.slack_channel configured; summary not queued")
    elif result.outbox_id is None:
        click.echo(f"  Slack   summary for {for_terminal(channel)} was queued before; not queued again")
    else:
        click.echo(f"  Slack   summary queued for {for_terminal(channel)} (outbox #{result.outbox_id}); "
                   "`brandmon run` delivers it")
    db.dispose()


def register(main: click.Group) -> None:
    """Add `digest` to `main`."""
    main.add_command(digest)
