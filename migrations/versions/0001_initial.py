"""requests, callbacks, transitions, jobs and replay keys

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callbacks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('request_kind', sa.String(length=32), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('http_request_id', sa.String(length=64), nullable=True),
    sa.Column('body_sha256', sa.String(length=64), nullable=True),
    sa.Column('body_bytes', sa.Integer(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('jwt_verdict', sa.String(length=16), nullable=False),
    sa.Column('jwt_reason', sa.String(length=64), nullable=True),
    sa.Column('jwt_id', sa.String(length=200), nullable=True),
    sa.Column('hmac_verdict', sa.String(length=16), nullable=False),
    sa.Column('hmac_reason', sa.String(length=64), nullable=True),
    sa.Column('hmac_key_encoding', sa.String(length=16), nullable=True),
    sa.Column('hmac_timestamp', sa.BigInteger(), nullable=True),
    sa.Column('has_archive_url', sa.Boolean(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks'))
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callbacks_request_id'), ['request_id'], unique=False)

    op.create_table('replay_keys',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_replay_keys'))
    )
    with op.batch_alter_table('replay_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replay_keys_expires_at'), ['expires_at'], unique=False)

    op.create_table('requests',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=True),
    sa.Column('value_hash', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('subject_ref', sa.String(length=200), nullable=True),
    sa.Column('signature_key_sealed', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('state_reason', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('provider_state', sa.String(length=32), nullable=True),
    sa.Column('provider_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('callback_missing', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('callback_received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archiving_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('authorising_callback_id', sa.Integer(), nullable=True),
    sa.Column('archive_uri', sa.Text(), nullable=True),
    sa.Column('archive_bytes', sa.BigInteger(), nullable=True),
    sa.Column('archive_sha256', sa.String(length=64), nullable=True),
    sa.Column('archive_version_id', sa.String(length=1024), nullable=True),
    sa.Column('archive_stored_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['authorising_callback_id'], ['callbacks.id'], name=op.f('fk_requests_authorising_callback_id_callbacks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requests'))
    )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index('ix_requests_state_created', ['state', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_subject_ref'), ['subject_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_value_hash'), ['value_hash'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('callback_id', sa.Integer(), nullable=True),
    sa.Column('payload_sealed', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['callback_id'], ['callbacks.id'], name=op.f('fk_jobs_callback_id_callbacks')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_jobs_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_request_id'), ['request_id'], unique=False)
        batch_op.create_index('ix_jobs_state_run_after', ['state', 'run_after'], unique=False)

    op.create_table('transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('callback_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['callback_id'], ['callbacks.id'], name=op.f('fk_transitions_callback_id_callbacks')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_transitions_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transitions'))
    )
    with op.batch_alter_table('transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transitions_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transitions_request_id'))

    op.drop_table('transitions')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_state_run_after')
        batch_op.drop_index(batch_op.f('ix_jobs_request_id'))

    op.drop_table('jobs')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requests_value_hash'))
        batch_op.drop_index(batch_op.f('ix_requests_subject_ref'))
        batch_op.drop_index('ix_requests_state_created')

    op.drop_table('requests')
    with op.batch_alter_table('replay_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replay_keys_expires_at'))

    op.drop_table('replay_keys')
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callbacks_request_id'))

    op.drop_table('callbacks')
