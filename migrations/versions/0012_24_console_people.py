"""console_people: people who signed in to the console through the identity provider (issuer, sub, name, role)

Revision ID: 0012_24
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0012_24'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_people',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('first_signed_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_signed_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_people'))
    )
    with op.batch_alter_table('console_people', schema=None) as batch_op:
        batch_op.create_index('ix_console_people_issuer_subject', ['issuer', 'subject'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('console_people', schema=None) as batch_op:
        batch_op.drop_index('ix_console_people_issuer_subject')
    op.drop_table('console_people')
