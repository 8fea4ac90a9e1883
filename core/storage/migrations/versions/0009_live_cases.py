"""live cases: the case's Slack message, its last brand post and SLA start; each post's conversation key

Revision ID: 0009_live_cases
Revises: 0008_cases

The router now keeps cases current as posts arrive (README, "Cases"). Existing rows are filled in: each case
post's conversation key, the replies already posted through brandmon as brand posts of their case, the time of
the brand's last post, the case's first Slack message and its first-response deadline.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = "0009_live_cases"
down_revision = "0008_cases"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column:
    return sa.Column(name, core.storage.schema.UTCDateTime(timezone=True), nullable=True)


_THREAD_KEYS = """
UPDATE case_posts SET thread_key = (SELECT COALESCE(m.conversation_id, m.external_id) FROM mentions m
                                    WHERE m.id = case_posts.mention_id)
WHERE thread_key IS NULL AND mention_id IS NOT NULL
"""
#: Replies posted through brandmon before cases were kept live become the brand's posts in their case.
_BRANDMON_REPLIES = """
INSERT INTO case_posts (case_id, mention_id, network, external_id, parent_external_id, author, from_brand, via,
                        created_at, thread_key)
SELECT c.id, NULL, m.network, r.external_id, m.external_id, r.author, TRUE, 'brandmon', r.posted_at,
       COALESCE(m.conversation_id, m.external_id)
FROM replies r JOIN cases c ON c.queue_item_id = r.queue_item_id JOIN mentions m ON m.id = r.mention_id
WHERE r.external_id IS NOT NULL AND r.posted_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM case_posts p WHERE p.network = m.network AND p.external_id = r.external_id)
"""
_CASE_FIELDS = """
UPDATE cases SET
  last_brand_at = (SELECT MAX(p.created_at) FROM case_posts p WHERE p.case_id = cases.id AND p.from_brand = TRUE),
  outbox_id = (SELECT MIN(a.outbox_id) FROM alerts a JOIN queue_items q ON q.mention_id = a.mention_id
               WHERE q.id = cases.queue_item_id AND a.outbox_id IS NOT NULL),
  needs_response_at = CASE WHEN queue_item_id IS NULL THEN NULL ELSE opened_at END,
  first_response_due = (SELECT q.first_response_due FROM queue_items q WHERE q.id = cases.queue_item_id)
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("cases", _time("last_brand_at"))
    op.add_column("cases", _time("needs_response_at"))
    op.add_column("cases", _time("first_response_due"))
    if dialect == "sqlite":
        # SQLite adds a column with its reference in place; a batch copy would cascade-delete the case posts
        op.execute("ALTER TABLE cases ADD COLUMN outbox_id INTEGER REFERENCES outbox (id) ON DELETE SET NULL")
    else:
        op.add_column("cases", sa.Column("outbox_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key("fk_cases_outbox_id", "cases", "outbox", ["outbox_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_cases_quiet", "cases", ["status", "last_brand_at"], unique=False)
    op.add_column("case_posts", sa.Column("thread_key", sa.String(length=400), nullable=True))
    op.create_index("ix_case_posts_thread", "case_posts", ["network", "thread_key"], unique=False)
    op.execute(_THREAD_KEYS)
    op.execute(_BRANDMON_REPLIES)
    op.execute(_CASE_FIELDS)


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # in place: a batch copy would cascade
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    op.drop_index("ix_case_posts_thread", table_name="case_posts")
    op.execute("DELETE FROM case_posts WHERE via = 'brandmon' AND mention_id IS NULL")
    _drop_column("case_posts", "thread_key")
    op.drop_index("ix_cases_quiet", table_name="cases")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_cases_outbox_id", "cases", type_="foreignkey")
    for column in ("outbox_id", "first_response_due", "needs_response_at", "last_brand_at"):
        _drop_column("cases", column)
