"""alerts: incidents and their members

Revision ID: 0003_alerts
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.storage.schema

revision = "0003_alerts"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("keys", _JSON, nullable=False),
        sa.Column("lead_mention_id", _ID, nullable=True),
        sa.Column("root_outbox_id", _ID, nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("thread_replies", sa.Integer(), nullable=False),
        sa.Column("max_urgency", sa.Float(), nullable=False),
        _time("first_post_at"),
        _time("last_post_at"),
        _time("created_at"),
        _time("updated_at"),
        sa.Column("acted", _JSON, nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.ForeignKeyConstraint(["lead_mention_id"], ["mentions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["root_outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_open", ["brand", "rule", "status", "last_post_at"], unique=False)
        batch_op.create_index("ix_incidents_rule_created", ["rule", "created_at"], unique=False)

    op.create_table(
        "incident_members",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("mention_id", _ID, nullable=False),
        _time("joined_at"),
        _time("post_at"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("keys", _JSON, nullable=False),
        sa.Column("shingles", _JSON, nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("incident_id", "mention_id"),
    )
    with op.batch_alter_table("incident_members", schema=None) as batch_op:
        batch_op.create_index("ix_incident_members_mention", ["mention_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_members", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_members_mention")
    op.drop_table("incident_members")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_rule_created")
        batch_op.drop_index("ix_incidents_open")
    op.drop_table("incidents")
