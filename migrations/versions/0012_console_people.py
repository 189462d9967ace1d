"""console_people, console_person_roles: people who signed in to the console through the identity provider (issuer,
sub, name, role) and the roles they held since when

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
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

    op.create_table('console_person_roles',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['console_people.id'], name=op.f('fk_console_person_roles_person_id_console_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_person_roles'))
    )
    with op.batch_alter_table('console_person_roles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_person_roles_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_person_roles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_person_roles_person_id'))
    op.drop_table('console_person_roles')
    with op.batch_alter_table('console_people', schema=None) as batch_op:
        batch_op.drop_index('ix_console_people_issuer_subject')
    op.drop_table('console_people')
