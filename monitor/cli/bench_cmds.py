"""`brandmon bench ...` (figures next to their targets) and `brandmon worker` (scale-out over one database).

Heavy imports stay inside the command bodies so that `brandmon --help` stays fast.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import config_options, fail

SECTION_CHOICE = click.Choice(["ingest", "classify", "latency", "backfill", "scaling"])


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_full_table(*, quick: bool, postgres_url: str | None, skip: Collection[str] = (),
                     backfill_classifier: str = "lexicon", markdown: bool = False, json_out: Path | None = None,
                     data_dir: Path | None = None) -> None:
    """Measure every figure and print the table, each figure next to its target."""
    from monitor.bench import format_table
    from monitor.bench import postgres_url as resolve_postgres
    from monitor.bench.report import run_table

    started = time.perf_counter()
    figures = run_table(quick=quick, postgres_url=resolve_postgres(postgres_url), skip=set(skip),
                        backfill_classifier=backfill_classifier, data_dir=data_dir,
                        echo=lambda line: click.echo(line, err=True))
    elapsed = time.perf_counter() - started
    click.echo(f"\nbrandmon bench{' --quick' if quick else ''} on {_machine()} ({elapsed:.0f} s)\n")
    click.echo(format_table(figures, markdown=markdown))
    if json_out is not None:
        json_out.write_text(json.dumps({"machine": _machine(), "quick": quick, "seconds": elapsed,
                                        "figures": [f.as_dict() for f in figures]}, indent=2), encoding="utf-8")
    missed = [f.name for f in figures if f.ok is False]
    if missed:
        click.echo(f"\n{len(missed)} figure(s) missed their target: {', '.join(missed)}")


def _print_figures(figures: list[Any]) -> None:
    from monitor.bench import format_table

    click.echo(format_table(figures))


@click.command("ingest")
@click.option("--mentions", type=int, default=20_000, show_default=True, help="Mentions to replay per backend.")
@click.option("--postgres-url", default=None, help="PostgreSQL server (a fresh schema is used and dropped).")
def bench_ingest_cmd(mentions: int, postgres_url: str | None) -> None:
    """Measure mentions stored per second on SQLite and PostgreSQL (target >= 2,000/s)."""
    import tempfile

    from monitor.bench import postgres_url as resolve_postgres
    from monitor.bench.report import ingest_figures

    with tempfile.TemporaryDirectory(prefix="brandmon-bench-") as tmp:
        url = resolve_postgres(postgres_url)
        _print_figures(ingest_figures(workdir=Path(tmp), mentions=mentions, postgres_url=url))


@click.command("latency")
@click.option("--posts", type=int, default=150, show_default=True, help="Posts to stream at 5 per second.")
def bench_latency_cmd(posts: int) -> None:
    """Measure a post's arrival to its Slack API call on a loopback Slack, p50 and p99 (target p99 < 2 s)."""
    import tempfile

    from monitor.bench.report import latency_figures

    with tempfile.TemporaryDirectory(prefix="brandmon-bench-") as tmp:
        _print_figures(latency_figures(workdir=Path(tmp), posts=posts))


@click.command("backfill")
@click.option("--mentions", type=int, default=100_000, show_default=True, help="Synthetic mentions to backfill.")
@click.option("--classifier", default="lexicon", show_default=True, help="Classifier kind to score them with.")
@click.option("--database-url", default=None, help="Database to fill (default: a new SQLite file in --workdir).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the generated file and database (default: a temporary folder).")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the figures to this JSON file.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar per step.")
def bench_backfill_cmd(mentions: int, classifier: str, database_url: str | None, workdir: Path | None,
                       json_out: Path | None, progress: bool) -> None:
    """Backfill synthetic mentions (store, classify, route) in this process: wall time and peak memory."""
    import tempfile

    from monitor.bench.backfill import run_backfill

    with tempfile.TemporaryDirectory(prefix="brandmon-backfill-") as tmp:
        result = run_backfill(mentions, workdir=workdir or Path(tmp), database_url=database_url,
                              classifier=classifier, progress=progress)
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    click.echo(f"backfill of {result.mentions:,} mentions on {result.backend} with {result.classifier}: "
               f"{result.total_s:.1f} s (ingest {result.ingest_s:.1f} s, classify {result.classify_s:.1f} s, "
               f"route {result.route_s:.1f} s); peak memory {result.peak_rss_mib:,.0f} MiB (target < 1.5 GiB)")


@click.command("scaling")
@click.option("--mentions", type=int, default=20_000, show_default=True, help="Mentions spread over 8 sources.")
@click.option("--workers", "worker_counts", type=int, multiple=True, default=(1, 2, 4), show_default=True)
@click.option("--postgres-url", default=None, help="PostgreSQL server (a fresh schema per run, dropped after).")
def bench_scaling_cmd(mentions: int, worker_counts: tuple[int, ...], postgres_url: str | None) -> None:
    """Measure throughput with 1, 2 and 4 `brandmon worker` processes sharing one PostgreSQL database."""
    import tempfile

    from monitor.bench import Figure, postgres_problem
    from monitor.bench import postgres_url as resolve_postgres
    from monitor.bench.scaling import measure_scaling

    url = resolve_postgres(postgres_url)
    problem = postgres_problem(url)
    if problem:
        fail(f"PostgreSQL at {url}: {problem}")
    with tempfile.TemporaryDirectory(prefix="brandmon-bench-") as tmp:
        results = measure_scaling(url, workdir=Path(tmp), mentions=mentions, worker_counts=worker_counts)
    one = results[0].per_s
    _print_figures([Figure(f"{r.workers} workers", f"{r.per_s:,.0f} mentions/s", "", None,
                           f"x{r.per_s / one:.2f}, {r.busy_workers} busy, {r.queued} queued") for r in results])


@click.command("worker")
@config_options
@click.option("--id", "worker_id", default=None, help="Worker name (default: host:pid:random).")
@click.option("--lease-s", type=float, default=120.0, show_default=True,
              help="How long a claimed task is held; a worker killed mid-task loses it after this.")
@click.option("--idle-sleep-s", type=float, default=0.5, show_default=True, help="Pause when nothing is due.")
@click.option("--exit-when-idle", is_flag=True, help="Stop once every source is exhausted and all work is done.")
@click.option("--status", "show_status", is_flag=True, help="List the workers seen in the database and exit.")
def worker_cmd(config_path: Path, database_url: str | None, worker_id: str | None, lease_s: float,
               idle_sleep_s: float, exit_when_idle: bool, show_status: bool) -> None:
    """Run one worker; start several (on one or more machines) on one PostgreSQL database to share the work."""
    from core.settings import ConfigError, load_settings
    from core.storage import Database
    from core.textsafe import for_terminal
    from monitor.pipeline import Pipeline
    from monitor.worker import Worker, migrate_once, worker_report

    try:
        settings = load_settings(config_path, database_url=database_url)
    except ConfigError as exc:
        fail(str(exc))
    db = Database(settings.database_url)
    try:
        migrate_once(db)
    except Exception as exc:  # any driver error: say where, without the password
        fail(f"database {db.redacted_url()}: cannot open or migrate: {type(exc).__name__}: {exc}")
    if show_status:
        for row in worker_report(db):
            holding = ", ".join(row["holding"]) or "-"  # type: ignore[arg-type]
            click.echo(f"{for_terminal(str(row['worker'])):40} {row['state']:8} "
                       f"seen {row['seen_at']:%Y-%m-%d %H:%M:%S} tasks {row['tasks_run']:>6} "
                       f"classified {row['classified']:>8} holding {for_terminal(holding)}")
        return
    if db.dialect == "sqlite":
        click.echo("brandmon worker: SQLite shares work only between processes on this machine; "
                   "use PostgreSQL to scale past it", err=True)
    stop = threading.Event()
    worker = Worker(Pipeline.from_settings(settings, db), worker_id=worker_id, lease_s=lease_s,
                    idle_sleep_s=idle_sleep_s, stop=stop)

    def request_stop(signum: int, _frame: Any) -> None:
        click.echo(f"brandmon worker {worker.worker_id}: {signal.Signals(signum).name}, finishing the current task",
                   err=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"brandmon worker {worker.worker_id}: {len(worker.pipeline.sources)} sources, database "
               f"{db.redacted_url()}; Ctrl-C stops")
    worker.run(exit_when_idle=exit_when_idle)
    db.dispose()


def register(main: click.Group) -> None:
    """Add the bench subcommands to the `bench` group and `worker` to `main`."""
    bench = main.commands.get("bench")
    if not isinstance(bench, click.Group):
        bench = click.Group("bench", help="Measure speed and memory.")
        main.add_command(bench)
    for command in (bench_ingest_cmd, bench_latency_cmd, bench_backfill_cmd, bench_scaling_cmd):
        bench.add_command(command)
    main.add_command(worker_cmd)
