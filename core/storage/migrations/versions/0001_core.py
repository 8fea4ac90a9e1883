"""core tables

Revision ID: 0001_core
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.storage.schema

revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mentions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('network', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('brand', sa.String(length=200), nullable=False),
    sa.Column('source_name', sa.String(length=100), nullable=False),
    sa.Column('author_handle', sa.String(length=200), nullable=False),
    sa.Column('author_name', sa.String(length=400), nullable=False),
    sa.Column('author_followers', sa.BigInteger(), nullable=True),
    sa.Column('author_verified', sa.Boolean(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ingested_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.Column('parent_id', sa.String(length=128), nullable=True),
    sa.Column('reply_path', sa.String(length=32), nullable=False),
    sa.Column('reply_path_reason', sa.Text(), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network', 'external_id', name='uq_mentions_network_external_id')
    )
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.create_index('ix_mentions_author', ['network', 'author_handle'], unique=False)
        batch_op.create_index('ix_mentions_brand_created_at', ['brand', 'created_at'], unique=False)
        batch_op.create_index('ix_mentions_conversation', ['network', 'conversation_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sending_since', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('source_state',
    sa.Column('source_name', sa.String(length=100), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('disabled_until', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fatal_error', sa.Text(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('exhausted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('source_name')
    )
    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mention_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('suppressed_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mention_id', 'rule', name='uq_alerts_mention_rule')
    )
    op.create_table('classifications',
    sa.Column('mention_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('sentiment', sa.String(length=16), nullable=False),
    sa.Column('sentiment_probs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('complaint', sa.Boolean(), nullable=False),
    sa.Column('complaint_prob', sa.Float(), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('urgency_score', sa.Float(), nullable=False),
    sa.Column('urgency_category', sa.String(length=32), nullable=False),
    sa.Column('urgency_level', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('needs_human', sa.Boolean(), nullable=False),
    sa.Column('needs_human_reason', sa.Text(), nullable=True),
    sa.Column('matched_query', sa.Boolean(), nullable=False),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('classified_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mention_id')
    )
    op.create_table('queue_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mention_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('urgency_score', sa.Float(), nullable=False),
    sa.Column('urgency_level', sa.String(length=16), nullable=False),
    sa.Column('urgency_category', sa.String(length=32), nullable=False),
    sa.Column('first_response_due', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolution_due', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('claimed_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('snoozed_until', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mention_id')
    )
    with op.batch_alter_table('queue_items', schema=None) as batch_op:
        batch_op.create_index('ix_queue_order', ['status', 'urgency_score', 'first_response_due'], unique=False)

    op.create_table('routings',
    sa.Column('mention_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('routed_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('matched_rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mention_id')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('queue_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('mention_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['queue_item_id'], ['queue_items.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_item', ['queue_item_id', 'at'], unique=False)

    op.create_table('replies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('queue_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mention_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('posted_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['queue_item_id'], ['queue_items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('replies')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_item')

    op.drop_table('audit_log')
    op.drop_table('routings')
    with op.batch_alter_table('queue_items', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_order')

    op.drop_table('queue_items')
    op.drop_table('classifications')
    op.drop_table('alerts')
    op.drop_table('source_state')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.drop_index('ix_mentions_conversation')
        batch_op.drop_index('ix_mentions_brand_created_at')
        batch_op.drop_index('ix_mentions_author')

    op.drop_table('mentions')
