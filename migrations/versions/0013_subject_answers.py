"""answer_packages, answer_links, answer_downloads: the answer delivered to the data subject, and its delivery proven (issue 21)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('answer_packages',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('content', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.Column('bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('version_id', sa.String(length=1024), nullable=True),
    sa.Column('files', sa.Text(), nullable=True),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.String(length=64), nullable=True),
    sa.Column('deletion_policy', sa.Text(), nullable=True),
    sa.Column('deleted_versions', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_answer_packages_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_packages'))
    )
    with op.batch_alter_table('answer_packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_packages_case_id'), ['case_id'], unique=False)

    op.create_table('answer_links',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('package_id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('max_downloads', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=True),
    sa.Column('email_job_id', sa.Integer(), nullable=True),
    sa.Column('email_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('complete_downloads', sa.Integer(), nullable=False),
    sa.Column('first_complete_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.Column('revoked_reason', sa.Text(), nullable=True),
    sa.Column('expiry_noted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_answer_links_case_id_cases')),
    sa.ForeignKeyConstraint(['package_id'], ['answer_packages.id'], name=op.f('fk_answer_links_package_id_answer_packages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_links')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_answer_links_secret_hash'))
    )
    with op.batch_alter_table('answer_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_links_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_links_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_links_package_id'), ['package_id'], unique=False)

    op.create_table('answer_downloads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('link_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_byte', sa.BigInteger(), nullable=False),
    sa.Column('bytes_sent', sa.BigInteger(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('package_sha256', sa.String(length=64), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['link_id'], ['answer_links.id'], name=op.f('fk_answer_downloads_link_id_answer_links')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_downloads'))
    )
    with op.batch_alter_table('answer_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_downloads_link_id'), ['link_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('answer_downloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_downloads_link_id'))

    op.drop_table('answer_downloads')
    with op.batch_alter_table('answer_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_links_package_id'))
        batch_op.drop_index(batch_op.f('ix_answer_links_expires_at'))
        batch_op.drop_index(batch_op.f('ix_answer_links_case_id'))

    op.drop_table('answer_links')
    with op.batch_alter_table('answer_packages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_packages_case_id'))

    op.drop_table('answer_packages')
