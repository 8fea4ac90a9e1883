"""languages: the languages each user answers in, saved-reply variants per language, cached post translations

Revision ID: 0010_languages
Revises: 0009_live_cases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = "0010_languages"
down_revision = "0009_live_cases"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str) -> sa.Column:
    return sa.Column(name, core.storage.schema.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "user_languages",
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "language"),
    )
    op.create_table(
        "saved_reply_variants",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "language", name="uq_saved_reply_variants_name_language"),
    )
    op.create_table(
        "translations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("mention_id", _ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(length=400), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mention_id", "target", name="uq_translations_mention_target"),
    )
    op.create_index("ix_translations_created", "translations", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_translations_created", table_name="translations")
    op.drop_table("translations")
    op.drop_table("saved_reply_variants")
    op.drop_table("user_languages")
