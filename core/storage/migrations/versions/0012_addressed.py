"""addressed: whether the author spoke to the brand (@-mentioned, quoted or answered one of its accounts' posts)

`mentions.addressed` lets classify keep such a post as the brand's even when its words do not match the brand's
query (a quote of the outage notice that names nobody). Rows from before are false: they were matched by their
words, as before.

Revision ID: 0012_addressed
Revises: 0011_categories
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_addressed"
down_revision = "0011_categories"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE, as in 0011: a NOT NULL column with a server default is added in place on both databases
    op.add_column("mentions", sa.Column("addressed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("mentions", "addressed")
