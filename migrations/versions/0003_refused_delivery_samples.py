"""refused_deliveries: a bounded sample of refused callback deliveries (slots reused in turn)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'refused_deliveries',
        sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('remote_addr', sa.String(length=64), nullable=True),
        sa.Column('body_sha256', sa.String(length=64), nullable=True),
        sa.Column('body_bytes', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('slot', name=op.f('pk_refused_deliveries')),
    )
    with op.batch_alter_table('refused_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refused_deliveries_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_table('refused_deliveries')
