"""requests: intent_id, our own id of a request we send, recorded before the provider is called

A request we send is stored first in state ``sending`` under ``intent_id``; the
provider's answer gives it the provider's id, and ``intent_id`` stays.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intent_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_requests_intent_id', ['intent_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_intent_id')
        batch_op.drop_column('intent_id')
