"""Storage: the SQLAlchemy engine, sessions, Alembic migrations and dialect-neutral upserts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.storage.schema import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class StorageError(RuntimeError):
    """The database cannot be reached or is not at the schema this version expects."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One database (SQLite file or PostgreSQL URL): engine, sessions and migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        if self.url.get_backend_name() == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(self.url, echo=echo, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """Return the backend name: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def redacted_url(self) -> str:
        """Return the URL with any password hidden, for logs."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["engine"] = self.engine
        return config

    def migrate(self) -> None:
        """Bring the schema up to date with every migration head."""
        from alembic import command

        with self.engine.begin() as connection:
            config = self._alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")

    def is_current(self) -> bool:
        """Return True when every migration has been applied."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic_config())
        with self.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        return current == set(script.get_heads())

    def table_names(self) -> list[str]:
        """Return the tables that exist in the database."""
        return sorted(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def insert_ignore(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[str] = (),
) -> list[Any]:
    """Insert rows, skipping any that collide on `conflict`; return `returning` of those inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_fn(model).on_conflict_do_nothing(index_elements=list(conflict))
    if returning:
        columns = [getattr(model, name) for name in returning]
        return list(session.execute(statement.returning(*columns), list(rows)).all())
    session.execute(statement, list(rows))
    return []


__all__ = ["Base", "Database", "StorageError", "insert_ignore"]
