"""Helpers for migration tests: run Alembic to a revision, and store a post as a database of that revision takes it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, Table, select

from core.domain import Mention
from core.storage import MIGRATIONS_DIR, Database
from core.storage.schema import MentionRow
from monitor.pipeline.ingest import mention_row


def alembic(db: Database, action: str, revision: str) -> None:
    """Run `alembic upgrade|downgrade REVISION` on `db`."""
    with db.engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def store_mention_without(db: Database, mention: Mention, columns: Collection[str], *, brand: str,
                          source_name: str, now: datetime) -> int:
    """Insert `mention`'s row leaving out `columns` (those a later migration adds); return its id."""
    kept = [column._copy() for column in MentionRow.__table__.c if column.name not in columns]
    table = Table(MentionRow.__tablename__, MetaData(), *kept)
    values = {k: v for k, v in mention_row(mention, brand=brand, source_name=source_name, now=now).items()
              if k not in columns}
    with db.engine.begin() as connection:
        connection.execute(table.insert().values(values))
        found = connection.execute(select(table.c.id).where(table.c.external_id == mention.external_id)).scalar()
    assert found is not None
    return int(found)
