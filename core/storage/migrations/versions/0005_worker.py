"""worker task leases and heartbeats

Revision ID: 0005_worker
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.schema

revision = '0005_worker'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker_tasks',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('interval_s', sa.Float(), nullable=False),
    sa.Column('next_run_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('lease_until', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_owner', sa.String(length=200), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('worker_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_worker_tasks_due', ['next_run_at'], unique=False)

    op.create_table('workers',
    sa.Column('worker_id', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tasks_run', sa.Integer(), nullable=False),
    sa.Column('classified', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('worker_id')
    )


def downgrade() -> None:
    op.drop_table('workers')
    with op.batch_alter_table('worker_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_worker_tasks_due')

    op.drop_table('worker_tasks')
