"""A tamper-evident history: every fact the service shows sealed, version by version, into one SHA-256 hash chain.

``COVERAGE`` declares, per table, the columns sealed (one retention erases in place is left out; a
sealed secret is encoded as its SHA-256). Each sealed version of a row is one entry of
``audit_chain``: ``seq`` (1, 2, 3 ... without a gap), ``source``, ``row_key``, ``row_version``,
``row_digest`` = SHA-256(canonical(row)), ``prev_hash`` (``GENESIS`` for seq 1) and
``entry_hash`` = SHA-256(prev_hash || row_digest), over the hashes' 32 bytes, written in hex.
``canonical`` (version 2) is the row as JSON: its table under ``"table"``, sorted keys, no
whitespace, UTF-8, dates ``YYYY-MM-DD``, timestamps ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, no floats;
anyone can recompute the chain from a dump with ``hashlib`` and ``json``.

What it promises:

- ``seal`` appends every row version not chained yet whose content changed, under one lock
  (``pg_advisory_xact_lock``; SQLite's writer's turn), and is idempotent; a row changed outside
  the service (its content moved, its ``row_version`` did not) is never sealed over;
- ``verify`` walks the chain checking every link, compares every covered row with its last
  sealed version and names each change: ``missing``, ``reordered``, ``rewritten``,
  ``chain_rewritten`` (a link broken, or the head not matching an outside copy). Rows not
  sealed yet are ``pending``, never tampering.

The encoding byte for byte, every table covered, and the anchors outside the database:
docs/audit-chain.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    RowMapping,
    String,
    Table,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)

from storage import lifecycle
from storage.db import Database
from storage.models import (
    AnswerDownload,
    AnswerLink,
    AnswerPackage,
    ApiToken,
    AuditChainEntry,
    Callback,
    Case,
    CaseEvent,
    CasePause,
    ConsolePerson,
    ConsolePersonRole,
    ConsoleSession,
    ProcessorRequest,
    RequestEvent,
    Transition,
)

GENESIS = "0" * 64

_chain = AuditChainEntry.__table__
_requests = ProcessorRequest.__table__


def _sending_requests() -> Any:
    return select(_requests.c.id).where(_requests.c.state == lifecycle.SENDING)


def _requests_of_case(case_id: str) -> Any:
    return select(_requests.c.id).where(_requests.c.case_id == case_id)


def _links_of_case(case_id: str) -> Any:
    links = AnswerLink.__table__
    return select(links.c.id).where(links.c.case_id == case_id)


@dataclass(frozen=True)
class Coverage:
    """One covered table: which columns its encoding holds, and how the service writes its rows.

    ``versioned``: the service updates its rows (they carry ``row_version``); ``deletable``:
    the service deletes them too, so a sealed row that is gone is not tampering; ``waiting``:
    a condition on the table for rows not sealed yet.
    """

    table: Table
    columns: tuple[str, ...]
    hashed: tuple[str, ...] = ()
    versioned: bool = False
    deletable: bool = False
    waiting: Callable[[Table], ColumnElement[bool]] | None = field(default=None, compare=False)
    #: The column that says when the service wrote the row (its own time), for the backdating check.
    time_column: str | None = None
    #: The rows of one case (given its id), for the case's evidence pack; None: the table holds no case's rows.
    of_case: Callable[[Table, str], ColumnElement[bool]] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> Any:
        (column,) = self.table.primary_key.columns
        return column


def _all_but(table: Table, *left_out: str) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if c.name not in {"row_version", *left_out})


#: The covered tables, in the order a seal takes them. A new table is one more line (and, if the service
#: updates its rows, a ``row_version`` column: ``storage.models.row_version_column``).
COVERAGE: tuple[Coverage, ...] = (
    Coverage(
        Transition.__table__,
        ("id", "request_id", "from_state", "to_state", "at", "reason", "callback_id", "actor"),
        waiting=lambda table: table.c.request_id.in_(_sending_requests()),
        time_column="at",
        of_case=lambda table, case_id: table.c.request_id.in_(_requests_of_case(case_id)),
    ),
    Coverage(
        RequestEvent.__table__,
        ("id", "request_id", "kind", "at", "actor", "note"),
        time_column="at",
        of_case=lambda table, case_id: table.c.request_id.in_(_requests_of_case(case_id)),
    ),
    Coverage(
        CaseEvent.__table__,
        ("id", "case_id", "at", "actor", "kind", "changed", "from_value", "to_value", "reason"),
        time_column="at",
        of_case=lambda table, case_id: table.c.case_id == case_id,
    ),
    Coverage(
        Case.__table__,
        _all_but(Case.__table__, "updated_at"),
        versioned=True,
        time_column="created_at",
        of_case=lambda table, case_id: table.c.id == case_id,
    ),
    Coverage(
        CasePause.__table__,
        _all_but(CasePause.__table__),
        versioned=True,
        of_case=lambda table, case_id: table.c.case_id == case_id,
    ),
    Coverage(
        ProcessorRequest.__table__,
        _all_but(ProcessorRequest.__table__, "updated_at", "provider_checked_at", "signature_key_sealed", "value_hash"),
        hashed=("signature_key_sealed", "value_hash"),
        versioned=True,
        waiting=lambda table: table.c.state == lifecycle.SENDING,
        time_column="created_at",
        of_case=lambda table, case_id: table.c.case_id == case_id,
    ),
    Coverage(
        Callback.__table__,
        _all_but(Callback.__table__, "remote_addr", "raw_inputs_sealed"),
        hashed=("raw_inputs_sealed",),
        versioned=True,
        time_column="received_at",
        of_case=lambda table, case_id: table.c.request_id.in_(_requests_of_case(case_id)),
    ),
    Coverage(ApiToken.__table__, _all_but(ApiToken.__table__), versioned=True, time_column="created_at"),
    Coverage(
        ConsoleSession.__table__,
        _all_but(ConsoleSession.__table__),
        versioned=True,
        deletable=True,
        time_column="created_at",
    ),
    Coverage(
        AnswerPackage.__table__,
        _all_but(AnswerPackage.__table__),
        versioned=True,
        time_column="requested_at",
        of_case=lambda table, case_id: table.c.case_id == case_id,
    ),
    Coverage(
        AnswerLink.__table__,
        _all_but(AnswerLink.__table__, "secret_hash", "email_hash"),
        hashed=("secret_hash", "email_hash"),
        versioned=True,
        time_column="created_at",
        of_case=lambda table, case_id: table.c.case_id == case_id,
    ),
    Coverage(
        AnswerDownload.__table__,
        _all_but(AnswerDownload.__table__, "client_address"),
        time_column="at",
        of_case=lambda table, case_id: table.c.link_id.in_(_links_of_case(case_id)),
    ),
    Coverage(
        ConsolePerson.__table__, _all_but(ConsolePerson.__table__), versioned=True, time_column="first_signed_in_at"
    ),
    Coverage(ConsolePersonRole.__table__, _all_but(ConsolePersonRole.__table__), time_column="since"),
)
COVERED: dict[str, Coverage] = {coverage.name: coverage for coverage in COVERAGE}
#: Each covered table's encoded columns (the hashed ones under their own names).
CHAINED: dict[str, tuple[str, ...]] = {c.name: c.columns + c.hashed for c in COVERAGE}

#: The PostgreSQL advisory lock the sealers take turns on ("auditchn" as a number).
SEALER_LOCK_KEY = int.from_bytes(b"auditchn", "big")
#: Rows one seal transaction takes at most: short transactions, however much is waiting.
SEAL_BATCH = 500
#: Chain entries (and rows) read at a time while verifying.
VERIFY_PAGE = 1000

MISSING, REORDERED, REWRITTEN, CHAIN_REWRITTEN = "missing", "reordered", "rewritten", "chain_rewritten"


# -- the canonical encoding and the hashes (no I/O) ---------------------------------------


def canonical(source: str, row: Mapping[str, Any] | RowMapping) -> bytes:
    """The row's canonical encoding (see the module's docstring): the bytes its row digest is taken over."""
    coverage = COVERED[source]
    fields = {name: _plain(row[name]) for name in coverage.columns}
    fields.update({f"{name}_sha256": _sha256_of_text(row[name]) for name in coverage.hashed})
    return json.dumps(
        {"table": source, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("a naive timestamp cannot be encoded")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int):
        return value
    raise TypeError(f"no canonical encoding for {type(value).__name__}")


def _sha256_of_text(value: str | None) -> str | None:
    return hashlib.sha256(value.encode("utf-8")).hexdigest() if value is not None else None


def row_digest(source: str, row: Mapping[str, Any] | RowMapping) -> str:
    """SHA-256 over the row's canonical encoding, in hex."""
    return hashlib.sha256(canonical(source, row)).hexdigest()


def entry_hash(prev_hash: str, digest: str) -> str:
    """SHA-256 over the previous entry's hash and the row's digest (their 32 bytes each), in hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + bytes.fromhex(digest)).hexdigest()


# -- the tree over the entries, as Certificate Transparency's (RFC 6962, section 2.1) -----------


def _leaf(digest: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(digests: Sequence[str]) -> str:
    """The Merkle tree hash over the entries' row digests in seq order (leaf: SHA-256(0x00 || digest)), in hex.

    The empty tree's is SHA-256 of nothing, as in RFC 6962.
    """
    if not digests:
        return hashlib.sha256(b"").hexdigest()
    return _levels(digests)[-1][0].hex()


def inclusion_proofs(digests: Sequence[str], indexes: Iterable[int]) -> dict[int, list[str]]:
    """The audit path of each leaf ``index`` (0-based: seq - 1) in the tree over ``digests`` (RFC 6962, 2.1.1)."""
    levels = _levels(digests)
    return {index: _path_in(levels, index) for index in indexes}


def inclusion_proof(digests: Sequence[str], index: int) -> list[str]:
    return inclusion_proofs(digests, [index])[index]


def _levels(digests: Sequence[str]) -> list[list[bytes]]:
    """The tree level by level, leaves first: adjacent nodes paired, a last odd one carried up as it is.

    This is RFC 6962's tree (its split at the largest power of two below the size), built once.
    """
    levels = [[_leaf(digest) for digest in digests]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        level = [_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        levels.append(level + ([below[-1]] if len(below) % 2 else []))
    return levels


def _path_in(levels: list[list[bytes]], index: int) -> list[str]:
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling].hex())
        index //= 2
    return path


def root_from_proof(digest: str, index: int, size: int, proof: Sequence[str]) -> str:
    """The root a leaf and its audit path lead to (RFC 9162, 2.1.3.2): equal to the anchored root when included."""
    node, last, path = _leaf(digest), size - 1, [bytes.fromhex(p) for p in proof]
    for sibling in path:
        if last == 0:
            break
        if index % 2 == 1 or index == last:
            node = _node(sibling, node)
            while index % 2 == 0 and index != 0:
                index, last = index >> 1, last >> 1
        else:
            node = _node(node, sibling)
        index, last = index >> 1, last >> 1
    return node.hex()


def anchor_statement(seq: int, head_hash: str, root: str) -> bytes:
    """The bytes an anchor time-stamps: the chain's head and the tree root over entries 1..seq, canonical JSON."""
    document = {"chain": "audit_chain/2", "head": head_hash, "root": root, "seq": seq}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def digests_through(connection: Connection, seq: int) -> list[str]:
    """The row digests of entries 1..``seq``, in order."""
    return list(connection.scalars(select(_chain.c.row_digest).where(_chain.c.seq <= seq).order_by(_chain.c.seq)))


def entry_at(connection: Connection, seq: int) -> Row[*tuple[Any, ...]] | None:
    return connection.execute(select(_chain).where(_chain.c.seq == seq)).first()


def own_times(connection: Connection) -> dict[tuple[str, str], dt.datetime]:
    """When the service says it wrote each row (its ``time_column``), by (table, key), for the backdating check."""
    times: dict[tuple[str, str], dt.datetime] = {}
    for coverage in COVERAGE:
        if coverage.time_column is None:
            continue
        column = coverage.table.c[coverage.time_column]
        for key, at in connection.execute(select(cast(coverage.key, String), column)):
            times[(coverage.name, key)] = at
    return times


@dataclass(frozen=True)
class CaseEntry:
    """One of a case's rows as the chain seals it: its last entry, its encoding now, and whether they agree."""

    seq: int
    source: str
    row_key: str
    row_version: int
    row_digest: str
    encoding: str
    matches_row: bool


def case_entries(connection: Connection, case_id: str, *, exclude_kinds: Sequence[str] = ()) -> list[CaseEntry]:
    """The last sealed entry of every covered row of the case (by ``Coverage.of_case``), in seq order.

    ``exclude_kinds``: rows whose ``kind`` is one of these are left out (the exports' own history entries).
    """
    found = []
    for coverage in COVERAGE:
        if coverage.of_case is None:
            continue
        rows = [
            row
            for row in connection.execute(
                select(
                    *(coverage.table.c[name] for name in CHAINED[coverage.name]),
                    cast(coverage.key, String).label("row_key"),
                ).where(coverage.of_case(coverage.table, case_id))
            )
            if row._mapping.get("kind") not in exclude_kinds
        ]
        sealed = _last_sealed(connection, coverage.name, [row.row_key for row in rows]) if rows else {}
        for row in rows:
            last = sealed.get(row.row_key)
            if last is None:
                continue
            encoded = canonical(coverage.name, row._mapping)
            digest = hashlib.sha256(encoded).hexdigest()
            found.append(
                CaseEntry(
                    last.seq,
                    coverage.name,
                    row.row_key,
                    last.version,
                    last.digest,
                    encoded.decode(),
                    digest == last.digest,
                )
            )
    return sorted(found, key=lambda entry: entry.seq)


def first_versions(connection: Connection) -> Iterator[Row[*tuple[Any, ...]]]:
    """Each row's first chain entry (seq, source, row_key, sealed_at), in seq order."""
    first = select(_chain.c.source, _chain.c.row_key, func.min(_chain.c.seq).label("seq")).group_by(
        _chain.c.source, _chain.c.row_key
    )
    yield from connection.execute(first.order_by("seq")).all()


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
    """Append every row version not yet chained, in transactions of at most ``batch`` rows.

    Idempotent, and safe from any number of processes at once (they take turns on the
    lock). Every row committed before the call is sealed when it returns.
    """
    with database.reading() as connection:
        waiting = [(coverage, key) for coverage in COVERAGE for key in _unsealed_keys(connection, coverage)]
        head = _head(connection)
    count = 0
    for start in range(0, len(waiting), batch):
        with database.connection() as connection:
            _take_sealer_lock(connection)
            head = _head(connection)  # after the lock: another sealer may have gone first
            rows = list(_versions_to_seal(connection, waiting[start : start + batch]))
            entries = list(_links(head, rows, sealed_at=database.clock.now()))
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


def _version_of(coverage: Coverage) -> Any:
    return coverage.table.c.row_version if coverage.versioned else literal(1)


def _unsealed_keys(connection: Connection, coverage: Coverage, *, waiting: bool = False) -> list[str]:
    """The keys of the table's rows whose current version has no chain entry, in order (waiting ones if ``waiting``).

    ``EXCEPT`` rather than ``NOT EXISTS``: a set difference never turns into a nested loop
    over the whole chain when the planner's statistics lag behind a burst of rows.
    """
    table = coverage.table
    written = select(cast(coverage.key, String).label("row_key"), _version_of(coverage).label("row_version"))
    if coverage.waiting is not None and not waiting:
        written = written.where(~coverage.waiting(table))
    sealed = select(_chain.c.row_key, _chain.c.row_version).where(_chain.c.source == coverage.name)
    return sorted({row.row_key for row in connection.execute(written.except_(sealed))}, key=_key_order(coverage))


def _key_order(coverage: Coverage) -> Callable[[str], Any]:
    return int if coverage.key.type.python_type is int else str


def _current_rows(
    connection: Connection, coverage: Coverage, keys: Sequence[str] | None = None
) -> Iterator[Row[*tuple[Any, ...]]]:
    """The table's rows (only ``keys`` if given) with every encoded column, ``row_key`` and ``row_version``."""
    table = coverage.table
    statement = select(
        *(table.c[name] for name in CHAINED[coverage.name]),
        cast(coverage.key, String).label("row_key"),
        _version_of(coverage).label("row_version"),
    ).order_by(coverage.key)
    if keys is not None:  # by the key's own type, so that its index is used
        native = [_key_order(coverage)(key) for key in keys]
        yield from connection.execute(statement.where(coverage.key.in_(native))).all()
        return
    with connection.execute(statement.execution_options(yield_per=VERIFY_PAGE)) as result:
        yield from result


@dataclass(frozen=True)
class _Sealed:
    seq: int
    version: int
    digest: str


def _last_sealed(connection: Connection, source: str, keys: Sequence[str]) -> dict[str, _Sealed]:
    found: dict[str, _Sealed] = {}
    statement = select(_chain.c.seq, _chain.c.row_key, _chain.c.row_version, _chain.c.row_digest).where(
        _chain.c.source == source, _chain.c.row_key.in_(keys)
    )
    for entry in connection.execute(statement.order_by(_chain.c.seq)):
        found[entry.row_key] = _Sealed(entry.seq, entry.row_version, entry.row_digest)
    return found


def _versions_to_seal(
    connection: Connection, wanted: Sequence[tuple[Coverage, str]]
) -> Iterator[tuple[str, Row[*tuple[Any, ...]]]]:
    """The rows ``wanted`` whose current version is new and changes what was sealed (a sealer may have gone first)."""
    for coverage in COVERAGE:
        keys = [key for wanted_coverage, key in wanted if wanted_coverage is coverage]
        if not keys:
            continue
        sealed = _last_sealed(connection, coverage.name, keys)
        for row in _current_rows(connection, coverage, keys):
            last = sealed.get(row.row_key)
            if last is None or (
                row.row_version > last.version and row_digest(coverage.name, row._mapping) != last.digest
            ):
                yield coverage.name, row


def _links(
    head: Head, rows: Iterable[tuple[str, Row[*tuple[Any, ...]]]], *, sealed_at: dt.datetime
) -> Iterator[dict[str, Any]]:
    seq, prev = head.seq, head.hash
    for source, row in rows:
        digest = row_digest(source, row._mapping)
        seq, current = seq + 1, entry_hash(prev, digest)
        yield {
            "seq": seq,
            "source": source,
            "row_key": row.row_key,
            "row_version": row.row_version,
            "row_digest": digest,
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
    """Rows whose current version is not in the chain (an intent's included; a version that changed nothing too)."""
    return sum(len(_unsealed_keys(connection, coverage, waiting=True)) for coverage in COVERAGE)


def matches_seal(connection: Connection, source: str, key: object) -> bool | None:
    """Whether the row as it is now is its last sealed version; None when it has none yet (or is gone)."""
    coverage = COVERED[source]
    row = next(_current_rows(connection, coverage, [str(key)]), None)
    if row is None:
        return None
    sealed = _last_sealed(connection, source, [str(key)]).get(row.row_key)
    if sealed is None:
        return None
    return row_digest(source, row._mapping) == sealed.digest


# -- verifying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """A chain entry, or a row, that does not match: what kind of change, and in words."""

    kind: str
    seq: int
    source: str
    row_key: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The result: the entries checked, the head, the rows not sealed yet, and every break found (by seq)."""

    entries: int
    head: Head
    pending: int
    breaks: tuple[Break, ...] = ()

    @property
    def broken(self) -> Break | None:
        """The first break, if any."""
        return self.breaks[0] if self.breaks else None


def verify(database: Database, *, expected: Head | None = None, page: int = VERIFY_PAGE) -> Verdict:
    """Walk the chain from seq 1 checking every link, then every covered row against its last sealed version.

    A broken link stops the walk (what follows it cannot be trusted); rows are then not compared.
    ``expected``, an outside copy of an earlier head, must still be in the chain as it was.
    """
    with database.reading() as connection:
        last, latest, broken = _walk(connection, page)
        breaks: list[Break] = [broken] if broken is not None else []
        pending = 0
        if broken is None:
            pending, changed = _compare_rows(connection, latest)
            breaks.extend(changed)
        if expected is not None:
            copy_break = _against_copy(connection, expected)
            breaks.extend([copy_break] if copy_break is not None else [])
        return Verdict(last.seq, last, pending, tuple(sorted(breaks, key=lambda b: b.seq)))


_Latest = dict[tuple[str, str], _Sealed]


def _walk(connection: Connection, page: int) -> tuple[Head, _Latest, Break | None]:
    last, latest = Head(0, GENESIS), _Latest()
    while True:
        entries = connection.execute(
            select(_chain).where(_chain.c.seq > last.seq).order_by(_chain.c.seq).limit(page)
        ).all()
        if not entries:
            return last, latest, None
        for entry in entries:
            broken = _check_link(entry, last, latest.get((entry.source, entry.row_key)))
            if broken is not None:
                return last, latest, broken
            latest[(entry.source, entry.row_key)] = _Sealed(entry.seq, entry.row_version, entry.row_digest)
            last = Head(entry.seq, entry.entry_hash)


def _check_link(entry: Row[*tuple[Any, ...]], previous: Head, earlier: _Sealed | None) -> Break | None:
    """How ``entry`` (following ``previous``) is not a link of the chain, or None when it is."""

    def broken(detail: str) -> Break:
        return Break(CHAIN_REWRITTEN, entry.seq, entry.source, entry.row_key, detail)

    if entry.seq != previous.seq + 1:
        return broken(f"it follows seq {previous.seq}: the entries between were removed")
    if entry.prev_hash != previous.hash:
        return broken(f"its prev_hash is not the hash of seq {previous.seq}")
    if entry.source not in COVERED:
        return broken(f"it names a table that is not chained ({entry.source})")
    if entry_hash(entry.prev_hash, entry.row_digest) != entry.entry_hash:
        return broken("its entry_hash does not follow from its prev_hash and row_digest")
    if earlier is not None and (not COVERED[entry.source].versioned or entry.row_version <= earlier.version):
        return broken(f"it seals version {entry.row_version} again (seq {earlier.seq} sealed {earlier.version})")
    return None


def _compare_rows(connection: Connection, latest: _Latest) -> tuple[int, list[Break]]:
    """Every covered row against its last sealed version: how many are pending, and each that does not match."""
    pending, breaks = 0, []
    for coverage in COVERAGE:
        unseen = {key for source, key in latest if source == coverage.name}
        for row in _current_rows(connection, coverage):
            unseen.discard(row.row_key)
            sealed = latest.get((coverage.name, row.row_key))
            outcome = _compare(connection, coverage, row, sealed, latest)
            if outcome == "pending":
                pending += 1
            elif isinstance(outcome, Break):
                breaks.append(outcome)
        if not coverage.deletable:
            breaks.extend(
                Break(MISSING, latest[(coverage.name, key)].seq, coverage.name, key, "the row was deleted")
                for key in unseen
            )
    return pending, breaks


def _compare(
    connection: Connection, coverage: Coverage, row: Row[*tuple[Any, ...]], sealed: _Sealed | None, latest: _Latest
) -> Break | str | None:
    if sealed is None:
        return "pending"
    if row_digest(coverage.name, row._mapping) == sealed.digest:
        return None
    if row.row_version > sealed.version:
        return "pending"  # written by the service since: the next seal takes it

    def broken(kind: str, detail: str) -> Break:
        return Break(kind, sealed.seq, coverage.name, row.row_key, detail)

    if row.row_version < sealed.version:
        return broken(REWRITTEN, f"the row is at version {row.row_version}, version {sealed.version} was sealed")
    moved_from = _sealed_elsewhere(coverage, row, latest)
    if moved_from is not None:
        key, other = moved_from
        return broken(
            REORDERED,
            f"the row now holds what was sealed for {coverage.name} {key} (seq {other.seq}): "
            "rows were swapped or renumbered",
        )
    return broken(REWRITTEN, f"the row's content changed outside the service since version {sealed.version} was sealed")


def _sealed_elsewhere(coverage: Coverage, row: Row[*tuple[Any, ...]], latest: _Latest) -> tuple[str, _Sealed] | None:
    """The key and sealed version of another row of the same table whose sealed content ``row`` now holds, if any."""
    key_name = coverage.key.name
    for (source, key), other in latest.items():
        if source != coverage.name or key == row.row_key:
            continue
        moved = {**row._mapping, key_name: coverage.key.type.python_type(key)}
        if row_digest(coverage.name, moved) == other.digest:
            return key, other
    return None


def _against_copy(connection: Connection, expected: Head) -> Break | None:
    """A break when the entry at ``expected.seq`` is not the one an outside copy of the head recorded."""
    entry = connection.execute(select(_chain).where(_chain.c.seq == expected.seq)).first()
    if entry is None:
        return Break(
            CHAIN_REWRITTEN,
            expected.seq,
            "audit_chain",
            str(expected.seq),
            "the outside copy of the head names an entry the chain no longer has",
        )
    if entry.entry_hash != expected.hash:
        return Break(
            CHAIN_REWRITTEN,
            entry.seq,
            entry.source,
            entry.row_key,
            f"the outside copy of the head says {expected.hash}: the chain was rewritten up to here",
        )
    return None
