"""retention: archive deletion receipts and claims, secrets erased, legal holds on cases

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archive_deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('archive_deleted_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('archive_deletion_policy', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('archive_deleted_versions', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('archive_deletion_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('secrets_erased_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_hold_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('legal_hold_reason')
        batch_op.drop_column('legal_hold_by')
        batch_op.drop_column('legal_hold_since')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('secrets_erased_at')
        batch_op.drop_column('archive_deletion_started_at')
        batch_op.drop_column('archive_deleted_versions')
        batch_op.drop_column('archive_deletion_policy')
        batch_op.drop_column('archive_deleted_by')
        batch_op.drop_column('archive_deleted_at')
