"""`brandmon sources`: each source's state, reads and estimated spend this month; re-enable; show queries."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from core.textsafe import cut, for_terminal
from monitor.cli.common import GlobalOptionsGroup, config_options, fail, load

#: Usage kinds that are posts read (what X bills per post; what Reddit returns per listing).
READ_KINDS = ("post_read", "owned_read", "listing")
TABLE_HEADER = ("NAME", "TYPE", "BRAND", "STATE", "READS", "REQUESTS", "SPEND", "LAST OK / LAST ERROR")
#: The numeric columns, aligned right.
_RIGHT = frozenset({"READS", "REQUESTS", "SPEND"})
#: Longest name, type or brand shown; a longer one is cut so the table stays readable.
NAME_MAX = 40


def _width(text: str) -> int:
    """Columns `text` takes in a terminal: wide (CJK, emoji) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lay out `rows` under `header`, each column as wide as its widest cell (the last one is not padded)."""
    widths = [max(_width(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = []
        for name, cell, width in zip(header, row, widths, strict=True):
            pad = " " * (width - _width(cell))
            cells.append(cell if name == header[-1] else pad + cell if name in _RIGHT else cell + pad)
        lines.append(" ".join(cells[:-1]) + "  " + cells[-1])
    return lines


def _state_line(state: object, now: datetime) -> str:
    if state is None:
        return "never polled"
    fatal = getattr(state, "fatal_error", None)
    if fatal:
        return "DISABLED"
    until = getattr(state, "disabled_until", None)
    if until is not None and until > now:
        return f"waiting until {until.strftime('%Y-%m-%d %H:%M')}Z"
    return "ok"


def _reads(source_type: str, state: object, used: object) -> int:
    """Records read: a replay's cursor counts them; a network's are the posts its usage meter billed."""
    if source_type == "replay":
        cursor = getattr(state, "cursor", None)
        return int(cursor) if cursor and str(cursor).isdigit() else 0
    counts = getattr(used, "units_by_kind", {}) if used is not None else {}
    return int(sum(counts.get(kind, 0) for kind in READ_KINDS))


@click.group(cls=GlobalOptionsGroup, invoke_without_command=True)
@config_options
@click.option("--month", default=None, metavar="YYYY-MM",
              help="Show usage from this month on (default: this month, UTC).")
@click.pass_context
def sources(ctx: click.Context, config_path: Path, database_url: str | None, month: str | None) -> None:
    """Show each source: state, reads and estimated API spend this month (UTC)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (config_path, database_url)
        return
    from core.storage.quarantine_tables import reject_counts
    from core.storage.schema import SourceStateRow
    from core.storage.sources_tables import usage_since

    settings, db = load(config_path, database_url)
    now = datetime.now(UTC)
    try:
        month_start = datetime.strptime(month, "%Y-%m").date() if month else now.date().replace(day=1)
    except ValueError:
        fail(f"--month {month!r}: expected YYYY-MM")
    with db.session() as session:
        states = {row.source_name: row for row in session.query(SourceStateRow).all()}
        usage = usage_since(session, month_start)
        rejects = reject_counts(session)
    rows: list[tuple[str, ...]] = []
    total = 0.0
    for config in settings.sources:
        state = states.get(config.name)
        status = "off (enabled: false)" if not config.enabled else _state_line(state, now)
        if status == "ok" and config.type == "replay" and getattr(state, "exhausted", False):
            status = "finished (end of file)"
        used = usage.get(config.name)
        spend = used.cost_usd if used else 0.0
        total += spend
        last_ok = state.last_success_at.strftime("%Y-%m-%d %H:%M") if state and state.last_success_at else "-"
        error = (state.fatal_error or state.last_error) if state else None
        rows.append((cut(for_terminal(config.name), NAME_MAX), cut(for_terminal(config.type), NAME_MAX),
                     cut(for_terminal(config.brand), NAME_MAX), status, str(_reads(config.type, state, used)),
                     str(used.requests if used else 0), "$" + format(spend, ".3f"),
                     last_ok + (f" / {cut(for_terminal(error), 70)}" if error else "")))
    for line in _table(TABLE_HEADER, rows):
        click.echo(line)
    for config in settings.sources:
        counts = rejects.get(config.name)
        if counts:
            click.echo(f"{for_terminal(config.name)}: {counts.get('rejected', 0)} records rejected, "
                       f"{counts.get('quarantined', 0)} quarantined; `brandmon sources rejects "
                       f"{for_terminal(config.name)}` lists them")
    click.echo(f"estimated spend since {month_start.isoformat()}: ${total:.3f} "
               "(X pay-per-use prices; Reddit's free tier, Bluesky and Mastodon cost nothing)")
    from monitor.cli.relevance_cmds import filter_lines

    for line in filter_lines(settings, db):  # what each brand's "not relevant" clicks taught (README, "Learning ...")
        click.echo(line)


@sources.command()
@click.argument("name")
@click.pass_obj
def enable(obj: tuple[Path, str | None], name: str) -> None:
    """Clear a source's fatal error (after fixing its credentials) so it is polled again."""
    from monitor.pipeline.ingest import enable_source

    settings, db = load(*obj)
    if name not in {s.name for s in settings.sources}:
        fail(f"no source named {name!r} in the config; known: {', '.join(s.name for s in settings.sources)}")
    enable_source(db, name)
    click.echo(f"source {name} enabled; it is polled on its next tick")


@sources.command()
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="How many, newest first.")
@click.pass_obj
def rejects(obj: tuple[Path, str | None], name: str, limit: int) -> None:
    """List records a source read but did not store: file:line or id, and the reason."""
    from core.storage.quarantine_tables import latest_rejects

    _, db = load(*obj)
    with db.session() as session:
        rows = latest_rejects(session, name, limit)
        for row in rows:
            click.echo(f"{row.created_at.strftime('%Y-%m-%d %H:%M')}Z {row.kind:<11} "
                       f"{cut(for_terminal(row.location), 240)}: {cut(for_terminal(row.reason), 240)}")
    if not rows:
        click.echo(f"source {name}: no rejected or quarantined records")


@sources.command()
@click.option("--brand", "brand_name", default=None, help="Only this brand.")
@click.pass_obj
def query(obj: tuple[Path, str | None], brand_name: str | None) -> None:
    """Show each brand's query as X and Reddit receive it."""
    from core.query import QueryError, parse_query

    settings, _ = load(*obj)
    brands = [b for b in settings.brands if brand_name in (None, b.name)]
    if not brands:
        fail(f"no brand named {brand_name!r}")
    for brand in brands:
        parsed = parse_query(brand.query)
        try:
            reddit = parsed.to_reddit()
        except QueryError as exc:
            reddit = f"(cannot search Reddit: {exc})"
        click.echo(f"{for_terminal(brand.name)}\n  X:      {for_terminal(parsed.to_x())}\n"
                   f"  Reddit: {for_terminal(reddit)}\n  local:  the same query, matched on every stored post")


def register(main: click.Group) -> None:
    """Add `brandmon sources` to `main`."""
    main.add_command(sources)
