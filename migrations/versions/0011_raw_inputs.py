"""callbacks.raw_inputs_sealed: an accepted callback's signed inputs (headers, URL, body), sealed at rest

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_inputs_sealed', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_column('raw_inputs_sealed')
