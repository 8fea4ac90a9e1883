"""The benchmark machinery on small runs: each measurement does the work it claims, and the table says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core.storage import Database
from monitor.bench import Figure, format_table
from monitor.bench.backfill import BackfillResult, measure_ingest, run_backfill
from monitor.bench.report import growth_figures
from monitor.bench.synthetic import write_mentions
from monitor.cli import main
from tests.support.drills import table_counts


def test_synthetic_mentions_are_distinct_and_seeded(tmp_path: Path) -> None:
    first = write_mentions(tmp_path / "a.jsonl", 500, seed=3).read_text(encoding="utf-8")
    again = write_mentions(tmp_path / "b.jsonl", 500, seed=3).read_text(encoding="utf-8")
    assert first == again
    ids = [line.split('"id": "', 1)[1].split('"', 1)[0] for line in first.splitlines()]
    assert len(set(ids)) == 500


def test_ingest_stores_every_mention_and_reports_a_rate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ingest.db'}"
    rate = measure_ingest(url, 1_000, workdir=tmp_path)
    db = Database(url)
    assert table_counts(db)["mentions"] == 1_000 and rate > 0
    db.dispose()


def test_backfill_stores_classifies_and_routes_everything(tmp_path: Path) -> None:
    result = run_backfill(400, workdir=tmp_path, progress=False)
    db = Database(f"sqlite:///{tmp_path / 'backfill-400.db'}")
    counts = table_counts(db)
    assert counts["mentions"] == counts["classified"] == counts["routed"] == 400
    assert result.mentions == 400 and result.ingest_s > 0 and result.classify_s > 0 and result.route_s > 0
    assert result.peak_rss_mib > 10
    db.dispose()


def test_growth_is_judged_by_its_exponent() -> None:
    def run(n: int, seconds: float) -> BackfillResult:
        return BackfillResult(mentions=n, backend="sqlite", classifier="m", ingest_s=seconds, classify_s=seconds,
                              route_s=seconds, peak_rss_mib=100)

    linear = growth_figures(run(10_000, 1.0), run(100_000, 10.0))
    quadratic = growth_figures(run(10_000, 1.0), run(100_000, 100.0))
    assert all(f.ok for f in linear) and "exponent 1.00" in linear[0].value
    assert not any(f.ok for f in quadratic) and "exponent 2.00" in quadratic[0].value


def test_table_prints_each_figure_next_to_its_target() -> None:
    figures = [Figure("ingest, SQLite", "9,000 mentions/s", ">= 2,000/s", True, "replay"),
               Figure("classify, batched", "150 posts/s", ">= 200/s", False, "lexicon"),
               Figure("backfill, wall time", "40 s")]
    lines = format_table(figures).splitlines()
    assert lines[0].split()[:3] == ["figure", "measured", "target"]
    assert "ok" in lines[2] and "MISSED" in lines[3] and lines[4].rstrip().endswith("40 s")
    assert format_table(figures, markdown=True).splitlines()[2].startswith("| ingest, SQLite | 9,000 mentions/s |")


def test_bench_without_a_subcommand_prints_the_table(tmp_path: Path) -> None:
    skip = [arg for name in ("classify", "latency", "backfill", "scaling") for arg in ("--skip", name)]
    result = CliRunner().invoke(main, ["bench", "--quick", "--postgres-url",
                                       "postgresql+psycopg://nobody@127.0.0.1:1/none", *skip])
    assert result.exit_code == 0, result.output
    assert "ingest, SQLite" in result.output and ">= 2,000/s" in result.output
    assert "ingest, PostgreSQL  not measured" in result.output


@pytest.mark.slow
def test_alert_latency_is_measured_from_arrival_to_the_slack_call(tmp_path: Path) -> None:
    from monitor.bench.latency import measure_latency

    result = measure_latency(workdir=tmp_path, posts=12, rate_per_s=20.0)
    assert result.alerts > 0 and 0 < result.p50_s <= result.p99_s <= result.max_s < 30


@pytest.mark.slow
@pytest.mark.postgres
def test_scaling_runs_real_workers_and_checks_their_work(postgres_admin_url: str, tmp_path: Path) -> None:
    from monitor.bench.scaling import measure_one, write_streams

    streams = write_streams(tmp_path, 600, 3)
    result = measure_one(postgres_admin_url, streams, 2, workdir=tmp_path, timeout_s=120)
    assert result.mentions == 600 and result.busy_workers >= 1 and result.per_s > 0
