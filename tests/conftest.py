"""Shared fixtures: real databases (SQLite file and PostgreSQL schema), settings, paths to shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from monitor.bench import fresh_postgres_schema, postgres_problem
from tests.support.paths import DATA_DIR
from tests.support.processes import Processes
from tests.support.settings import make_settings

__all__ = ["make_settings"]

PG_ADMIN_URL = os.environ.get("BRANDMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Return the PostgreSQL URL, skipping (or failing in CI) when the server is not up."""
    problem = postgres_problem(PG_ADMIN_URL)
    if problem:
        if os.environ.get("BRANDMON_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required here but unreachable: {problem}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {problem}")
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """Return a URL whose search_path is a fresh schema, dropped after the test."""
    with fresh_postgres_schema(postgres_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Return the URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'brandmon.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Return a fresh database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """Return a migrated database on each backend."""
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """Return a migrated SQLite database only."""
    database = Database(sqlite_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def shared_data() -> Path:
    """Return ../shared/data, skipping when it is absent."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"labelled data not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture
def slack() -> Iterator[SlackLoopback]:
    """Return a loopback Slack Web API server, stopped after the test."""
    with SlackLoopback() as server:
        yield server


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Own the test's subprocesses: each is killed, with its process group, when the test ends, pass or fail."""
    owner = Processes(tmp_path / "processes")
    try:
        yield owner
    finally:
        owner.kill_all()
