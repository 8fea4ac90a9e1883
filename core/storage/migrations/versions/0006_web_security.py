"""web security: server-side sessions, login throttles, Slack request nonces; audit_log refuses TRUNCATE

Revision ID: 0006_web_security
Revises: 0004_queue
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = "0006_web_security"
down_revision = "0004_queue"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_PG_TRUNCATE_FUNCTION = """
CREATE FUNCTION brandmon_audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: it cannot be truncated';
END
$$
"""
_PG_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION brandmon_audit_no_truncate()
"""


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("revoked_at", nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("last_failed_at"),
        _time("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "slack_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        _time("seen_at"),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_slack_nonces_seen", "slack_nonces", ["seen_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_TRUNCATE_FUNCTION)
        op.execute(_PG_TRUNCATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS brandmon_audit_no_truncate()")
    op.drop_index("ix_slack_nonces_seen", table_name="slack_nonces")
    op.drop_table("slack_nonces")
    op.drop_table("login_throttle")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
