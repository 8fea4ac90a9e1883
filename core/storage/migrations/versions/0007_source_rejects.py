"""source rejects: records a source read but could not store (rejected or quarantined), with the raw payload

Revision ID: 0007_source_rejects
Revises: 0002_sources
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = "0007_source_rejects"
down_revision = "0002_sources"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "source_rejects",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", core.storage.schema.JsonType, nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("created_at", core.storage.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_source_rejects_source", "source_rejects", ["source_name", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_source_rejects_source", table_name="source_rejects")
    op.drop_table("source_rejects")
