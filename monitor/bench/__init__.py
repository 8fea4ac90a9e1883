"""Benchmarks: each figure measured on this machine and printed next to its target."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from core.settings import Settings, parse_settings

#: Where the PostgreSQL figures run unless --postgres-url says otherwise; each run uses a fresh schema.
POSTGRES_URL_ENV = "BRANDMON_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, its target, and whether it meets it (None: no target, or not measured)."""

    name: str
    value: str
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        """Return "ok", "MISSED" or "" when there is nothing to compare."""
        return "" if self.ok is None else ("ok" if self.ok else "MISSED")

    def as_dict(self) -> dict[str, Any]:
        """Return the figure as JSON values."""
        return {"name": self.name, "value": self.value, "target": self.target, "ok": self.ok, "note": self.note}


def format_table(figures: Sequence[Figure], *, markdown: bool = False) -> str:
    """Return the figures as an aligned text table (or a Markdown table for the README)."""
    header = ("figure", "measured", "target", "", "note")
    rows = [(f.name, f.value, f.target, f.verdict, f.note) for f in figures]
    if markdown:
        lines = ["| figure | measured | target | verdict | note |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header[:4])) + "  note"]
    lines.append("  ".join("-" * w for w in widths) + "  ----")
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines)


def bench_settings(
    *,
    database_url: str,
    streams: Sequence[Path],
    classifier: str = "lexicon",
    slack_base_url: str = "https://slack.invalid/api/",
    slack_enabled: bool = True,
    batch_size: int = 1000,
    poll_interval_s: float = 60.0,
    messages_per_second: float = 1.0,
    extra: dict[str, Any] | None = None,
) -> Settings:
    """Return settings for one own brand, one replay source per stream file, and two Slack routes."""
    data: dict[str, Any] = {
        "database_url": database_url,
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel OR @KestrelMobile"}],
        "sources": [
            {"name": f"bench-{i}", "type": "replay", "brand": "Kestrel Mobile", "poll_interval_s": poll_interval_s,
             "options": {"path": str(path), "batch_size": batch_size, "filter_brand": False}}
            for i, path in enumerate(streams)
        ],
        "classifier": {"kind": classifier},
        "slack": {
            "enabled": slack_enabled,
            "base_url": slack_base_url,
            "messages_per_second": messages_per_second,
            # the synthetic streams (dated January 2026) stand for live traffic, so none of it is history
            "max_age_min": 100 * 365 * 24 * 60,
            "routes": [
                {"name": "urgent", "channel": "#care-urgent", "min_urgency": 0.5},
                {"name": "complaints", "channel": "#care-complaints", "complaint": True},
            ],
        },
    }
    data.update(extra or {})
    return parse_settings(data, origin="<bench>", database_url=database_url)


def postgres_url(explicit: str | None = None) -> str:
    """Return the PostgreSQL server the bench uses: the flag, then BRANDMON_BENCH_POSTGRES_URL, then the default."""
    return explicit or os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def postgres_problem(url: str) -> str | None:
    """Return why PostgreSQL at `url` cannot be used, or None when it answers."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@contextmanager
def fresh_postgres_schema(url: str) -> Iterator[str]:
    """Yield a URL whose search_path is a new schema, and drop the schema afterwards."""
    schema = f"brandmon_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
