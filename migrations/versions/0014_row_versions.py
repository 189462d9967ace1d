"""audit chain v2: every covered row's versions sealed (row_version on the tables the service updates), entries
hash a row digest; the v1 chain is verified first, then re-linked

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import datetime as dt
import hashlib
import json

from alembic import op
import sqlalchemy as sa

from storage.models import UTCDateTime


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

VERSIONED = ("requests", "callbacks", "cases", "case_pauses", "api_tokens", "console_sessions")

#: Version 1 of the chain: the three tables it covered and the columns their encoding held.
_V1 = {
    "transitions": ("id", "request_id", "from_state", "to_state", "at", "reason", "callback_id", "actor"),
    "request_events": ("id", "request_id", "kind", "at", "actor", "note"),
    "case_events": ("id", "case_id", "at", "actor", "kind", "changed", "from_value", "to_value", "reason"),
}
_TIMES = {"at"}
GENESIS = "0" * 64


def _table(name: str) -> sa.Table:
    columns = [sa.Column(c, UTCDateTime if c in _TIMES else sa.Text) for c in _V1[name] if c != "id"]
    return sa.table(name, sa.column("id", sa.Integer), *columns)


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _v1_canonical(source: str, row: dict) -> bytes:
    fields = {name: _plain(row[name]) for name in _V1[source]}
    return json.dumps({"table": source, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _relink(connection: sa.Connection) -> None:
    """Check every v1 entry against its row (refusing to go on at the first that does not match), then re-link it."""
    chain = sa.table(
        "audit_chain",
        sa.column("seq", sa.Integer),
        sa.column("source", sa.Text),
        sa.column("row_id", sa.Integer),
        sa.column("prev_hash", sa.Text),
        sa.column("entry_hash", sa.Text),
        sa.column("row_key", sa.Text),
        sa.column("row_version", sa.Integer),
        sa.column("row_digest", sa.Text),
    )
    entries = connection.execute(
        sa.select(chain.c.seq, chain.c.source, chain.c.row_id, chain.c.prev_hash, chain.c.entry_hash).order_by(
            chain.c.seq
        )
    ).all()
    rows = {}
    for source in _V1:
        table = _table(source)
        for row in connection.execute(sa.select(*(table.c[name] for name in _V1[source]))):
            rows[(source, row.id)] = dict(row._mapping)
    prev, new_prev = GENESIS, GENESIS
    for number, entry in enumerate(entries, start=1):
        row = rows.get((entry.source, entry.row_id))
        encoded = _v1_canonical(entry.source, row) if row is not None else b""
        if (
            entry.seq != number
            or entry.prev_hash != prev
            or row is None
            or (hashlib.sha256(bytes.fromhex(prev) + encoded).hexdigest() != entry.entry_hash)
        ):
            raise RuntimeError(
                f"the audit chain does not verify at seq {entry.seq} ({entry.source} {entry.row_id}): "
                "run `flask audit verify` on the previous release and resolve it before upgrading"
            )
        prev = entry.entry_hash
        digest = hashlib.sha256(encoded).hexdigest()
        new_prev = hashlib.sha256(bytes.fromhex(new_prev) + bytes.fromhex(digest)).hexdigest()
        connection.execute(
            sa.update(chain)
            .where(chain.c.seq == entry.seq)
            .values(row_key=str(entry.row_id), row_version=1, row_digest=digest, entry_hash=new_prev, prev_hash=None)
        )
    # prev_hash follows from the entry before: set them all once the hashes are final
    connection.execute(
        sa.text(
            "UPDATE audit_chain SET prev_hash = COALESCE((SELECT earlier.entry_hash FROM audit_chain AS earlier "
            "WHERE earlier.seq = audit_chain.seq - 1), '" + GENESIS + "')"
        )
    )


def upgrade() -> None:
    for name in VERSIONED:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("row_version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("audit_chain", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("row_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("row_digest", sa.String(length=64), nullable=True))
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
    _relink(op.get_bind())
    with op.batch_alter_table("audit_chain", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_chain_source_row_id")
        batch_op.drop_column("row_id")
        batch_op.alter_column("row_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column("row_version", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("row_digest", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_audit_chain_source_row_key", ["source", "row_key", "row_version"], unique=True)


def downgrade() -> None:
    raise RuntimeError("the v2 audit chain seals rows v1 cannot express: restore a backup to go back")
