"""row_version on answer_packages, answer_links and console_people: the audit chain seals their versions (issue 20)

Rows written before are version 1: the next seal chains each as it is now.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

VERSIONED = ("answer_packages", "answer_links", "console_people")


def upgrade() -> None:
    for name in VERSIONED:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("row_version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    raise RuntimeError("the audit chain seals these tables' versions, which 0015 cannot verify: restore a backup to go back")
