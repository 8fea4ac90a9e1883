"""categories: the category the classifier read (a built-in one or a brand's own) and its probability

`classifications.category` and `queue_items.category` keep a brand's own category under its name
(`urgency_category` keeps the built-in name routing's weights and SLA know, "other" for a brand's own);
`classifications.category_prob` keeps how sure the model was. Rows from before keep NULL: the same as their
`urgency_category`, probability unknown.

Revision ID: 0011_categories
Revises: 0010_languages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_categories"
down_revision = "0010_languages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE on both databases: SQLite (3.35+) adds and drops these nullable columns in place, where
    # a batch migration would copy and recreate `queue_items`, a table replies and audit rows reference
    op.add_column("classifications", sa.Column("category", sa.String(length=64), nullable=True))
    op.add_column("classifications", sa.Column("category_prob", sa.Float(), nullable=True))
    op.add_column("queue_items", sa.Column("category", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("queue_items", "category")
    op.drop_column("classifications", "category_prob")
    op.drop_column("classifications", "category")
