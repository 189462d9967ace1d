"""audit_chain: the tamper-evident history's links (seq, the sealed row's table and id, its hash, the previous hash)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_chain',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_chain'))
    )
    with op.batch_alter_table('audit_chain', schema=None) as batch_op:
        batch_op.create_index('ix_audit_chain_source_row_id', ['source', 'row_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('audit_chain', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_chain_source_row_id')
    op.drop_table('audit_chain')
