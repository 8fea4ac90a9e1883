"""Alembic environment: runs migrations on the connection `Database.migrate` hands over."""

from __future__ import annotations

from alembic import context

from core.storage.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    engine = config.attributes.get("engine")
    if engine is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///brandmon.db")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
