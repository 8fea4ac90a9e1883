"""sources: API usage per source per day, deletion-sweep checks

Revision ID: 0002_sources
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = "0002_sources"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "source_usage",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_name", "day", "kind", name="uq_source_usage_day_kind"),
    )
    op.create_table(
        "mention_checks",
        sa.Column("mention_id", _ID, nullable=False),
        sa.Column("checked_at", core.storage.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mention_id"),
    )
    with op.batch_alter_table("mention_checks", schema=None) as batch_op:
        batch_op.create_index("ix_mention_checks_checked_at", ["checked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mention_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_mention_checks_checked_at")
    op.drop_table("mention_checks")
    op.drop_table("source_usage")
