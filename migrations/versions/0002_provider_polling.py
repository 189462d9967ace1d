"""requests: what ops must do, when the provider was last asked, the VoodooSMS blacklist option

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('action_needed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('provider_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('blacklist', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_requests_callback_missing', ['callback_missing'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_callback_missing')
        batch_op.drop_column('blacklist')
        batch_op.drop_column('provider_checked_at')
        batch_op.drop_column('action_needed')
