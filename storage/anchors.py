"""The audit chain's anchors: its head time-stamped outside the database, kept here and in the archive store.

An anchor is the statement time-stamped (``audit_chain.anchor_statement``: seq, head
hash, tree root) and the authority's reply. It is kept twice: a row of ``audit_anchors``
and two objects in the archive store, ``audit/anchors/<seq>-<head>.json`` (the statement's
exact bytes) and ``.tsr`` (the reply), so that ``openssl ts -verify -data X.json -in
X.tsr -CAfile ca.pem`` checks one with nothing of ours. Whoever rewrites the database can
delete the rows, not the store's copies (on S3 each is retained by Object Lock where the
bucket allows it), and not the time an authority signed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from storage.archives import ArchiveStore
from storage.clock import clock_of
from storage.errors import StorageError
from storage.models import AuditAnchor

PREFIX = "audit/anchors"
#: How long the store keeps an anchor locked, where it can (S3 Object Lock): the records' own keeping period.
RETENTION = dt.timedelta(days=7 * 366)
_anchors = AuditAnchor.__table__


@dataclass(frozen=True)
class Anchor:
    """One anchor, wherever it was found: what was stamped, the reply, and where it came from."""

    seq: int
    head_hash: str
    tree_root: str
    statement: bytes
    reply: bytes
    tsa_url: str | None = None
    stamped_at: dt.datetime | None = None
    in_database: bool = False
    in_store: bool = False

    @property
    def name(self) -> str:
        return f"{self.seq:012d}-{self.head_hash}"


def statement_fields(statement: bytes) -> tuple[int, str, str]:
    """The seq, head hash and tree root a statement names; ``ValueError`` when it is not one."""
    document = json.loads(statement)
    if not isinstance(document, dict) or document.get("chain") != "audit_chain/2":
        raise ValueError("not an audit chain statement")
    return int(document["seq"]), str(document["head"]), str(document["root"])


def record(connection: Connection, anchor: Anchor) -> int:
    """Keep ``anchor`` (stamped: ``tsa_url`` and ``stamped_at`` set) in the database; its id."""
    result = connection.execute(
        insert(_anchors).values(
            seq=anchor.seq,
            head_hash=anchor.head_hash,
            tree_root=anchor.tree_root,
            statement=anchor.statement.decode("ascii"),
            tsa_url=anchor.tsa_url,
            token=base64.b64encode(anchor.reply).decode("ascii"),
            stamped_at=anchor.stamped_at,
            created_at=clock_of(connection).now(),
        )
    )
    inserted = result.inserted_primary_key
    assert inserted is not None  # one row inserted, with its generated id
    return int(inserted[0])


def mark_stored(connection: Connection, anchor_id: int, uri: str) -> None:
    connection.execute(update(_anchors).where(_anchors.c.id == anchor_id).values(stored_uri=uri))


def in_database(connection: Connection) -> list[Anchor]:
    """Every anchor row, by seq."""
    return [_anchor_of(row) for row in connection.execute(select(_anchors).order_by(_anchors.c.seq, _anchors.c.id))]


def latest(connection: Connection) -> Anchor | None:
    """The anchor of the highest seq in the database, or None."""
    row = connection.execute(select(_anchors).order_by(_anchors.c.seq.desc(), _anchors.c.id.desc()).limit(1)).first()
    return _anchor_of(row) if row is not None else None


def newest(connection: Connection) -> tuple[int, dt.datetime] | None:
    """The seq and time of the newest anchor in the database, or None."""
    row = connection.execute(
        select(_anchors.c.seq, _anchors.c.stamped_at).order_by(_anchors.c.seq.desc(), _anchors.c.id.desc()).limit(1)
    ).first()
    return (row.seq, row.stamped_at) if row is not None else None


def unstored(connection: Connection) -> list[tuple[int, Anchor]]:
    """The anchors whose copy the archive store does not have yet (a store that failed), with their ids."""
    rows = connection.execute(select(_anchors).where(_anchors.c.stored_uri.is_(None)).order_by(_anchors.c.id))
    return [(row.id, _anchor_of(row)) for row in rows]


def _anchor_of(row: Any) -> Anchor:
    return Anchor(
        row.seq,
        row.head_hash,
        row.tree_root,
        row.statement.encode("ascii"),
        base64.b64decode(row.token),
        row.tsa_url,
        row.stamped_at,
        in_database=True,
    )


def publish(store: ArchiveStore, anchor: Anchor, *, now: dt.datetime) -> str:
    """Write the anchor's statement and reply to the store (retained from ``now`` where it can); its URI."""
    retain_until = now + RETENTION
    store.put_record(f"{PREFIX}/{anchor.name}.tsr", anchor.reply, retain_until=retain_until)
    return store.put_record(f"{PREFIX}/{anchor.name}.json", anchor.statement, retain_until=retain_until)


def in_store(store: ArchiveStore) -> Iterator[Anchor | StorageError]:
    """Every anchor the store holds (a pair ``.json`` + ``.tsr``); a ``StorageError`` for one that cannot be read."""
    keys = set(store.list_records(PREFIX))
    for key in sorted(keys):
        if not key.endswith(".json") or key[: -len(".json")] + ".tsr" not in keys:
            continue
        try:
            statement = store.read_record(key)
            reply = store.read_record(key[: -len(".json")] + ".tsr")
            seq, head_hash, root = statement_fields(statement)
        except StorageError as error:
            yield error
            continue
        except (ValueError, KeyError, TypeError):
            yield StorageError("misconfigured", f"{key} is not an anchor statement")
            continue
        yield Anchor(seq, head_hash, root, statement, reply, in_store=True)
