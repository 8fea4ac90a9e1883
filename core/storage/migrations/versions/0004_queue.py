"""reply queue: users, saved replies, labelled examples, thread views; audit_log made append-only

Revision ID: 0004_queue
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.storage.schema

revision = "0004_queue"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


_PG_FUNCTION = """
CREATE FUNCTION brandmon_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only: rows cannot be deleted';
    END IF;
    -- the only change allowed is a foreign key set to NULL when its queue item or post is deleted
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.at IS DISTINCT FROM OLD.at OR NEW.actor IS DISTINCT FROM OLD.actor
       OR NEW.action IS DISTINCT FROM OLD.action OR NEW.detail IS DISTINCT FROM OLD.detail
       OR (NEW.queue_item_id IS NOT NULL AND NEW.queue_item_id IS DISTINCT FROM OLD.queue_item_id)
       OR (NEW.mention_id IS NOT NULL AND NEW.mention_id IS DISTINCT FROM OLD.mention_id) THEN
        RAISE EXCEPTION 'audit_log is append-only: rows cannot be changed';
    END IF;
    RETURN NEW;
END
$$
"""
_PG_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION brandmon_audit_append_only()
"""
_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END
    """,
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    WHEN NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.actor IS NOT OLD.actor
      OR NEW.action IS NOT OLD.action OR NEW.detail IS NOT OLD.detail
      OR (NEW.queue_item_id IS NOT NULL AND NEW.queue_item_id IS NOT OLD.queue_item_id)
      OR (NEW.mention_id IS NOT NULL AND NEW.mention_id IS NOT OLD.mention_id)
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed'); END
    """,
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("last_login_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "saved_replies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=True),
        sa.Column("network", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "labelled_examples",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("mention_id", _ID, nullable=True),
        sa.Column("brand", sa.String(length=200), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("complaint", sa.Boolean(), nullable=False),
        sa.Column("urgency_category", sa.String(length=32), nullable=False),
        sa.Column("model_labels", _JSON, nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "thread_views",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("queue_item_id", _ID, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("newest_mention_id", _ID, nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        _time("seen_at"),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_item_id", "actor", name="uq_thread_views_item_actor"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS brandmon_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_table("thread_views")
    op.drop_table("labelled_examples")
    op.drop_table("saved_replies")
    op.drop_table("users")
