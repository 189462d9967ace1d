"""A tamper-evident history: every transition and audit event sealed into one SHA-256 hash chain.

What is chained: every row of ``transitions`` (a request's moves), ``request_events``
(what ops did with a request: archive downloads, evidence exports) and ``case_events``
(a case's history). Each row gets one entry in ``audit_chain``:

    seq         1, 2, 3 ... without a gap: the chain's order, the order rows were sealed in
    source      the row's table
    row_id      the row's id
    prev_hash   the previous entry's ``entry_hash``; ``GENESIS`` (64 zeros) for seq 1
    entry_hash  SHA-256( the 32 bytes of prev_hash || canonical(row) ), in lower-case hex

**The canonical encoding** (``canonical``, version 1): a JSON object holding the table's
name under ``"table"`` and each column of ``CHAINED[table]`` under its column name;
keys sorted, no whitespace (separators ``,`` and ``:``), UTF-8 with non-ASCII characters
as themselves (not ``\\u`` escapes); integers as JSON numbers, text as JSON strings,
NULL as ``null``, timestamps in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six
digits of microseconds). No floats. A transition, for example::

    {"actor":null,"at":"2026-12-05T09:30:00.000000Z","callback_id":7,"from_state":"sent","id":12,
     "reason":"callback","request_id":"3f1c...","table":"transitions","to_state":"completed"}

(one line). ``CHAINED`` names every column of the three tables; a column added later
is left out of the encoding until a new version of it says otherwise.

**Sealing** (``seal``): the paths that write these rows only insert them, as before (the
callback's one statement on PostgreSQL is untouched). A sealer appends the rows not yet
chained, table by table in id order, under one lock: ``pg_advisory_xact_lock`` on
PostgreSQL, the writer's turn every SQLite transaction takes (``storage.sqlite_writing``).
So the chain's order is the order of sealing, and a transaction that commits after a
later id was sealed is simply sealed on the next run: no commit-order race can fork the
chain or leave a hole in it. ``seq`` is the primary key and (``source``, ``row_id``)
unique, so even a sealer without the lock could only be refused, never fork it.
A transition of a request still ``sending`` waits: the intent's id changes to the
provider's when the answer comes (``registry.record_answer``), or it is deleted when
the provider refuses it; it is sealed once it has its final id.

**Verifying** (``verify``) walks the chain in ``seq`` order, recomputing each hash from
the row as it is now, and stops at the first entry that does not match:

- ``missing``: the row is gone (deleted);
- ``reordered``: the row now holds what was sealed for another row of its table (ids swapped);
- ``rewritten``: the row's content changed since it was sealed;
- ``chain_rewritten``: the chain entry itself was changed, removed or inserted (a hole in
  ``seq``, a ``prev_hash`` that is not the previous entry's hash, an ``entry_hash`` the
  next entry does not continue from), or it no longer matches an outside copy of the head.

Rows not sealed yet are ``pending``, never tampering. A rewrite of the whole chain
from some entry on (every hash recomputed) is consistent by itself: it is caught only
against a copy of an earlier head kept elsewhere (the ``audit.chain_head`` log event,
the ``receiver_audit_chain_checkpoint_info`` metric), passed to ``verify`` as ``expected``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import Connection, Row, RowMapping, Table, insert, select, text

from storage import lifecycle
from storage.clock import utcnow
from storage.db import Database
from storage.models import AuditChainEntry, CaseEvent, ProcessorRequest, RequestEvent, Transition

GENESIS = "0" * 64

#: A row as the chain encodes it: a database row's mapping, or a plain dict of the same fields.
Fields: TypeAlias = Mapping[str, Any] | RowMapping

#: The chained tables, in the order a seal takes them, and the columns their encoding holds.
CHAINED: dict[str, tuple[str, ...]] = {
    "transitions": ("id", "request_id", "from_state", "to_state", "at", "reason", "callback_id", "actor"),
    "request_events": ("id", "request_id", "kind", "at", "actor", "note"),
    "case_events": ("id", "case_id", "at", "actor", "kind", "changed", "from_value", "to_value", "reason"),
}
_TABLES: dict[str, Table] = {model.__tablename__: model.__table__ for model in (Transition, RequestEvent, CaseEvent)}
_chain = AuditChainEntry.__table__
_requests = ProcessorRequest.__table__

#: The PostgreSQL advisory lock the sealers take turns on ("auditchn" as a number).
SEALER_LOCK_KEY = int.from_bytes(b"auditchn", "big")
#: Rows one seal transaction takes at most: short transactions, however much is waiting.
SEAL_BATCH = 500
#: Chain entries read at a time while verifying.
VERIFY_PAGE = 1000

MISSING, REORDERED, REWRITTEN, CHAIN_REWRITTEN = "missing", "reordered", "rewritten", "chain_rewritten"


# -- the canonical encoding and the hash (no I/O) -----------------------------------------


def canonical(source: str, row: Fields) -> bytes:
    """The row's canonical encoding (see the module's docstring): the bytes its chain entry hashes."""
    fields = {name: _plain(row[name]) for name in CHAINED[source]}
    return json.dumps(
        {"table": source, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("a naive timestamp cannot be encoded")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"no canonical encoding for {type(value).__name__}")


def entry_hash(prev_hash: str, encoded: bytes) -> str:
    """SHA-256 over the previous entry's hash (its 32 bytes) followed by the canonical encoding, in hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + encoded).hexdigest()


# -- sealing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """The chain's last entry: its seq and hash (seq 0 and ``GENESIS`` for an empty chain)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Sealed:
    """What one ``seal`` did: the entries it appended and the head after them."""

    count: int
    head: Head


def seal(database: Database, *, batch: int = SEAL_BATCH) -> Sealed:
    """Append every row not yet chained, in transactions of at most ``batch`` rows.

    Idempotent, and safe from any number of processes at once (they take turns on the
    lock). Every row committed before the call is sealed when it returns.
    """
    with database.reading() as connection:
        waiting = [(source, row_id) for source in CHAINED for row_id in _unsealed_ids(connection, source)]
        head = _head(connection)
    count = 0
    for start in range(0, len(waiting), batch):
        with database.connection() as connection:
            _take_sealer_lock(connection)
            head = _head(connection)  # after the lock: another sealer may have gone first
            entries = list(
                _links(head, _rows_still_unsealed(connection, waiting[start : start + batch]), sealed_at=utcnow())
            )
            if entries:
                connection.execute(insert(_chain), entries)
                head = Head(entries[-1]["seq"], entries[-1]["entry_hash"])
        count += len(entries)
    return Sealed(count, head)


def _take_sealer_lock(connection: Connection) -> None:
    """PostgreSQL: one sealer at a time, until this transaction ends. SQLite's writer's turn is held already."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK_KEY})


def _head(connection: Connection) -> Head:
    last = connection.execute(select(_chain.c.seq, _chain.c.entry_hash).order_by(_chain.c.seq.desc()).limit(1)).first()
    return Head(last.seq, last.entry_hash) if last is not None else Head(0, GENESIS)


def _unsealed_ids(connection: Connection, source: str, *, intents: bool = False) -> list[int]:
    """The ids of the table's rows with no chain entry, in order; an intent's transitions only if ``intents``.

    ``EXCEPT`` rather than ``NOT EXISTS``: a set difference never turns into a nested loop
    over the whole chain when the planner's statistics lag behind a burst of rows.
    """
    table = _TABLES[source]
    written = select(table.c.id)
    if source == "transitions" and not intents:  # an intent's transition waits for its final request id
        written = written.where(
            table.c.request_id.not_in(select(_requests.c.id).where(_requests.c.state == lifecycle.SENDING))
        )
    sealed = select(_chain.c.row_id).where(_chain.c.source == source)
    return sorted(connection.scalars(written.except_(sealed)))


def _rows_still_unsealed(
    connection: Connection, wanted: Sequence[tuple[str, int]]
) -> Iterator[tuple[str, Row[*tuple[Any, ...]]]]:
    """The rows ``wanted`` that exist and are still unsealed (a sealer may have gone first), in order."""
    for source in CHAINED:
        ids = [row_id for table_name, row_id in wanted if table_name == source]
        if not ids:
            continue
        table = _TABLES[source]
        sealed = set(
            connection.scalars(select(_chain.c.row_id).where(_chain.c.source == source, _chain.c.row_id.in_(ids)))
        )
        rows = connection.execute(
            select(*(table.c[name] for name in CHAINED[source]))
            .where(table.c.id.in_([row_id for row_id in ids if row_id not in sealed]))
            .order_by(table.c.id)
        )
        yield from ((source, row) for row in rows)


def _links(
    head: Head, rows: Iterable[tuple[str, Row[*tuple[Any, ...]]]], *, sealed_at: dt.datetime
) -> Iterator[dict[str, Any]]:
    seq, prev = head.seq, head.hash
    for source, row in rows:
        seq, current = seq + 1, entry_hash(prev, canonical(source, row._mapping))
        yield {
            "seq": seq,
            "source": source,
            "row_id": row.id,
            "prev_hash": prev,
            "entry_hash": current,
            "sealed_at": sealed_at,
        }
        prev = current


# -- reading the head ----------------------------------------------------------------------------


def head(connection: Connection) -> Head:
    """The chain's head now."""
    return _head(connection)


def head_before(connection: Connection, moment: dt.datetime) -> Head:
    """The head as it stood at ``moment``: the last entry sealed before it (the daily checkpoint)."""
    last = connection.execute(
        select(_chain.c.seq, _chain.c.entry_hash)
        .where(_chain.c.sealed_at < moment)
        .order_by(_chain.c.seq.desc())
        .limit(1)
    ).first()
    return Head(last.seq, last.entry_hash) if last is not None else Head(0, GENESIS)


def pending_count(connection: Connection) -> int:
    """Rows written but not sealed yet (an intent's transition included)."""
    return sum(len(_unsealed_ids(connection, source, intents=True)) for source in CHAINED)


# -- verifying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first chain entry that does not match: what kind of change, and in words."""

    kind: str
    seq: int
    source: str
    row_id: int
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The walk's result: the entries checked, the head, the rows not sealed yet, and the first break if any."""

    entries: int
    head: Head
    pending: int
    broken: Break | None


def verify(database: Database, *, expected: Head | None = None, page: int = VERIFY_PAGE) -> Verdict:
    """Walk the chain from seq 1, recomputing every hash; stop at the first entry that does not match.

    ``expected``, an outside copy of an earlier head, must still be in the chain as it was.
    """
    with database.reading() as connection:
        last, broken = _walk(connection, page)
        if broken is None and expected is not None:
            broken = _against_copy(connection, expected)
        return Verdict(last.seq, last, pending_count(connection), broken)


def _walk(connection: Connection, page: int) -> tuple[Head, Break | None]:
    last = Head(0, GENESIS)
    while True:
        entries = connection.execute(
            select(_chain).where(_chain.c.seq > last.seq).order_by(_chain.c.seq).limit(page)
        ).all()
        if not entries:
            return last, None
        rows = _rows_of(connection, entries)
        for entry in entries:
            broken = _check(connection, entry, last, rows.get((entry.source, entry.row_id)))
            if broken is not None:
                return last, broken
            last = Head(entry.seq, entry.entry_hash)


def _rows_of(connection: Connection, entries: Sequence[Row[*tuple[Any, ...]]]) -> dict[tuple[str, int], Fields]:
    found: dict[tuple[str, int], Fields] = {}
    for source in CHAINED:
        ids = [entry.row_id for entry in entries if entry.source == source]
        if ids:
            table = _TABLES[source]
            for row in connection.execute(
                select(*(table.c[name] for name in CHAINED[source])).where(table.c.id.in_(ids))
            ):
                found[(source, row.id)] = row._mapping
    return found


def _check(connection: Connection, entry: Row[*tuple[Any, ...]], previous: Head, row: Fields | None) -> Break | None:
    """How ``entry`` (following ``previous``) fails to match the row it seals, or None when it matches."""
    broken = functools.partial(_break_at, entry)
    if entry.seq != previous.seq + 1:
        return broken(CHAIN_REWRITTEN, f"it follows seq {previous.seq}: the entries between were removed")
    if entry.prev_hash != previous.hash:
        return broken(CHAIN_REWRITTEN, f"its prev_hash is not the hash of seq {previous.seq}")
    if entry.source not in CHAINED:
        return broken(CHAIN_REWRITTEN, f"it names a table that is not chained ({entry.source})")
    if row is None:
        return broken(MISSING, "the row was deleted")
    computed = entry_hash(entry.prev_hash, canonical(entry.source, row))
    if computed == entry.entry_hash:
        return None
    return _mismatch(connection, entry, computed, row)


def _break_at(entry: Row[*tuple[Any, ...]], kind: str, detail: str) -> Break:
    return Break(kind, entry.seq, entry.source, entry.row_id, detail)


def _mismatch(connection: Connection, entry: Row[*tuple[Any, ...]], computed: str, row: Fields) -> Break:
    """Tell a changed chain entry, a row moved to another id and a changed row apart."""
    broken = functools.partial(_break_at, entry)
    following = connection.execute(select(_chain.c.prev_hash).where(_chain.c.seq == entry.seq + 1)).first()
    if following is not None and following.prev_hash == computed:
        return broken(CHAIN_REWRITTEN, "its entry_hash was changed: the row matches and the next entry follows it")
    moved_from = _sealed_elsewhere(connection, entry, row)
    if moved_from is not None:
        return broken(
            REORDERED,
            f"the row now holds what was sealed for {entry.source} {moved_from.row_id} "
            f"(seq {moved_from.seq}): rows were swapped or renumbered",
        )
    return broken(REWRITTEN, "the row's content changed since it was sealed (or its chain entry did)")


def _sealed_elsewhere(
    connection: Connection, entry: Row[*tuple[Any, ...]], row: Fields
) -> Row[*tuple[Any, ...]] | None:
    """The chain entry of another row of the same table whose sealed content ``row`` now holds, if any."""
    others = connection.execute(
        select(_chain.c.seq, _chain.c.row_id, _chain.c.prev_hash, _chain.c.entry_hash).where(
            _chain.c.source == entry.source, _chain.c.seq != entry.seq
        )
    )
    for other in others:
        if entry_hash(other.prev_hash, canonical(entry.source, {**row, "id": other.row_id})) == other.entry_hash:
            return other
    return None


def _against_copy(connection: Connection, expected: Head) -> Break | None:
    """A break when the entry at ``expected.seq`` is not the one an outside copy of the head recorded."""
    entry = connection.execute(select(_chain).where(_chain.c.seq == expected.seq)).first()
    if entry is None:
        return Break(
            CHAIN_REWRITTEN,
            expected.seq,
            "audit_chain",
            expected.seq,
            "the outside copy of the head names an entry the chain no longer has",
        )
    if entry.entry_hash != expected.hash:
        return Break(
            CHAIN_REWRITTEN,
            entry.seq,
            entry.source,
            entry.row_id,
            f"the outside copy of the head says {expected.hash}: the chain was rewritten up to here",
        )
    return None
