"""cases: one row per customer conversation and its posts; existing queue items become cases

Revision ID: 0008_cases
Revises: 0004_queue
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = "0008_cases"
down_revision = "0004_queue"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


#: One case per existing queue item (each was one post): its status, first response and resolution carried over.
_MIGRATE_CASES = """
INSERT INTO cases (brand, network, customer_handle, status, queue_item_id, opened_at, last_customer_at,
                   first_response_at, resolved_at, resolved_by, post_count, brand_reply_count, updated_at)
SELECT q.brand, m.network, m.author_handle,
       CASE WHEN q.status IN ('resolved', 'not_relevant') THEN 'resolved'
            WHEN q.status = 'replied' THEN 'replied' ELSE 'open' END,
       q.id, m.created_at, m.created_at, q.first_response_at, q.resolved_at,
       CASE WHEN q.status IN ('resolved', 'not_relevant') THEN 'responder' END,
       1, (SELECT COUNT(*) FROM replies r WHERE r.queue_item_id = q.id AND r.external_id IS NOT NULL), q.updated_at
FROM queue_items q JOIN mentions m ON m.id = q.mention_id
"""
_MIGRATE_POSTS = """
INSERT INTO case_posts (case_id, mention_id, network, external_id, parent_external_id, author, from_brand, via,
                        created_at)
SELECT c.id, m.id, m.network, m.external_id, m.parent_id, m.author_handle, FALSE, NULL, m.created_at
FROM cases c JOIN queue_items q ON q.id = c.queue_item_id JOIN mentions m ON m.id = q.mention_id
"""


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("customer_handle", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queue_item_id", _ID, nullable=True),
        _time("opened_at"),
        _time("last_customer_at"),
        _time("first_response_at", nullable=True),
        _time("resolved_at", nullable=True),
        sa.Column("resolved_by", sa.String(length=16), nullable=True),
        sa.Column("post_count", sa.Integer(), nullable=False),
        sa.Column("brand_reply_count", sa.Integer(), nullable=False),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_items.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_item_id"),
    )
    op.create_index("ix_cases_brand_opened", "cases", ["brand", "opened_at"], unique=False)
    op.create_index("ix_cases_customer", "cases", ["network", "customer_handle", "status"], unique=False)
    op.create_table(
        "case_posts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("mention_id", _ID, nullable=True),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("parent_external_id", sa.String(length=128), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("from_brand", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("network", "external_id", name="uq_case_posts_network_external_id"),
    )
    op.create_index("ix_case_posts_case", "case_posts", ["case_id", "created_at"], unique=False)
    op.execute(_MIGRATE_CASES)
    op.execute(_MIGRATE_POSTS)


def downgrade() -> None:
    op.drop_index("ix_case_posts_case", table_name="case_posts")
    op.drop_table("case_posts")
    op.drop_index("ix_cases_customer", table_name="cases")
    op.drop_index("ix_cases_brand_opened", table_name="cases")
    op.drop_table("cases")
