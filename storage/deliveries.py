"""A callback delivery's record and its consequences, written with a few fixed statements.

This is the callback endpoint's hot path. A delivery's request is read without a
lock (``read_request``), the use case decides on it, and ``record`` writes what the
decision needs, provided the request is still in the state it was read in: the
delivery's row with its replay keys and, when accepted, the request's next state,
its transitions and perhaps its archive job. When the request moved in between (a
concurrent delivery, reconciliation), ``record`` writes nothing and raises
``RequestMoved``: read again, decide again. When the deciding replay key is live
(a resend), it writes nothing but the other keys and answers None.

The ORM's unit of work and SQLAlchemy's execution cost more than the statements here, so
these functions send a few texts built once straight to the driver's cursor
(``Database.single_statement``, ``Database.driver_cursor``: SQLAlchemy still owns the pool,
the transactions and the translation of errors). On PostgreSQL the read is one statement
and the write is one statement (data-modifying CTEs that lock the request row, check its
state and write everything or nothing): two round trips, against the three of a bare
insert and commit. On SQLite the read takes no lock and the writes run one by one in the
writer's turn, checking the state first, through the columns' own bind processors.

They follow the same rules as the ORM paths: moves are checked by
``lifecycle.moves_as_rows``, jobs are the rows ``jobs.enqueue`` would write.
The figures: docs/measured-figures.md, "Callback throughput".
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite

from storage import jobs, lifecycle
from storage import replay as replay_keys
from storage.db import Database
from storage.models import Callback, Job, ProcessorRequest, Transition
from storage.replay import DeliveryKeys

_requests = ProcessorRequest.__table__
_callbacks = Callback.__table__
_transitions = Transition.__table__
_jobs = Job.__table__
#: A ``:name`` parameter, rewritten to psycopg's ``%(name)s`` for the statements run on its own cursor.
_NAMED_PARAMETER = re.compile(r":([a-z_0-9]+)\b")


class RequestMoved(Exception):
    """The request is no longer in the state it was read in: nothing was written; read it again."""


@dataclass(frozen=True)
class RequestHead:
    """What deciding on a callback needs to know of its request."""

    id: str
    provider: str
    kind: str
    state: str
    signature_key_sealed: str | None


# Statements built once: their parameters come with each execution, so SQLAlchemy compiles each shape once.
#: The read before deciding, in each driver's own terms (``Database.single_statement``): one statement, no transaction.
_FIND_REQUEST = {
    dialect: f"SELECT id, provider, kind, state, signature_key_sealed FROM {_requests.name} WHERE id = {parameter}"
    for dialect, parameter in (("postgresql", "%(request_id)s"), ("sqlite", ":request_id"))
}


def read_request(database: Database, request_id: str) -> RequestHead | None:
    """The request, read without a lock and without waiting for the writer's turn."""
    row = database.single_statement(_FIND_REQUEST[database.dialect], {"request_id": request_id})
    return RequestHead(*row) if row is not None else None


@dataclass(frozen=True)
class DeliveryIdentity:
    """What tells one signed delivery apart in the ``callbacks`` table: its deciding replay key's source.

    The JWT's ``jti`` when a verified JWT decides, else the HMAC's timestamp (its signature
    follows from the request's key, the timestamp and the body).
    """

    request_id: str
    body_sha256: str
    jwt_id: str | None = None
    hmac_timestamp: int | None = None


def _find_delivery_sql(dialect: str, column: str) -> str:
    sql = (
        f"SELECT 1 FROM {Callback.__tablename__} WHERE request_id = :request_id AND body_sha256 = :body_sha256 "
        f"AND {column} = :value AND verdict IN ('accepted', 'duplicate') LIMIT 1"
    )
    return _NAMED_PARAMETER.sub(r"%(\1)s", sql) if dialect == "postgresql" else sql


_FIND_DELIVERY = {
    (dialect, column): _find_delivery_sql(dialect, column)
    for dialect in ("postgresql", "sqlite")
    for column in ("jwt_id", "hmac_timestamp")
}


def holds(database: Database, identity: DeliveryIdentity) -> bool:
    """Whether the delivery is recorded: one indexed read, made only when a replay cache outside the
    database (Redis) already knew its key, which a process killed before its commit leaves behind."""
    value: str | int
    if identity.jwt_id is not None:
        column, value = "jwt_id", identity.jwt_id
    elif identity.hmac_timestamp is not None:
        column, value = "hmac_timestamp", identity.hmac_timestamp
    else:
        raise ValueError("a delivery is told apart by its JWT's id or its HMAC's timestamp")
    parameters = {"request_id": identity.request_id, "body_sha256": identity.body_sha256, "value": value}
    return database.single_statement(_FIND_DELIVERY[database.dialect, column], parameters) is not None


@dataclass(frozen=True)
class ArchiveDownload:
    """The archive job an accepted GET callback queues: its sealed URL payload."""

    payload_sealed: str


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to record, as decided on ``request`` (read by ``read_request``).

    ``row`` is its ``callbacks`` row. An accepted delivery has ``moves`` (the request's
    next states, reached at ``at``, with the callback's ``result``) and perhaps a
    ``download`` to queue; a duplicate has none. ``replay``: its keys, when the database
    keeps them (with Redis they are added before).
    """

    request: RequestHead
    row: Mapping[str, Any]
    at: dt.datetime
    moves: Sequence[lifecycle.Move] = ()
    result: str | None = None
    download: ArchiveDownload | None = None
    replay: DeliveryKeys | None = field(default=None, repr=False)


def record(database: Database, delivery: NewDelivery) -> int | None:
    """Record the delivery and all it causes; its id, or None when its deciding replay key was live.

    Raises ``RequestMoved`` (nothing written) when the request left the state it was read in.
    """
    if database.dialect == "postgresql":
        return _record_in_one_statement(database, delivery)
    with database.connection() as connection, database.driver_cursor(connection) as cursor:
        return _record_in_write_transaction(cursor, delivery)


def _record_in_write_transaction(cursor: Any, delivery: NewDelivery) -> int | None:
    """SQLite: the writes one by one on the driver's cursor, in the caller's write transaction (the writer's turn)."""
    request = delivery.request
    state = cursor.execute(_SQLITE_STATE, {"request_id": request.id}).fetchone()
    if state is None or state[0] != request.state:
        raise RequestMoved(request.id)
    if delivery.replay is not None:
        written = {
            key
            for (key,) in cursor.execute(
                _SQLITE_UPSERT_KEYS[len(delivery.replay.all)], delivery.replay.parameters()
            ).fetchall()
        }
        if delivery.replay.deciding[0] not in written:
            return None
    inserted = cursor.execute(
        _insert_sql(_callbacks, tuple(delivery.row)) + " RETURNING id", _sqlite_values(_callbacks, delivery.row)
    ).fetchone()
    callback_id: int = inserted[0]
    if delivery.moves:
        _advance(cursor, delivery, callback_id)
    return callback_id


def _advance(cursor: Any, delivery: NewDelivery, callback_id: int) -> None:
    """Move an accepted delivery's request on (from the state it was read in), and queue its download if any."""
    request, at = delivery.request, delivery.at
    columns, transitions = lifecycle.moves_as_rows(request.state, delivery.moves, callback_id=callback_id, at=at)
    columns.update(result=delivery.result, authorising_callback_id=callback_id)
    cursor.execute(_update_sql(tuple(columns)), {**_sqlite_values(_requests, columns), "request_id": request.id})
    for transition in transitions:
        values = {**transition, "request_id": request.id}
        cursor.execute(_insert_sql(_transitions, tuple(values)), _sqlite_values(_transitions, values))
    if delivery.download is not None:
        job = {
            "kind": jobs.ARCHIVE,
            "request_id": request.id,
            "callback_id": callback_id,
            "payload_sealed": delivery.download.payload_sealed,
            "state": jobs.QUEUED,
            "attempts": 0,
            "run_after": at,
            "created_at": at,
            "updated_at": at,
        }
        cursor.execute(_insert_sql(_jobs, tuple(job)), _sqlite_values(_jobs, job))


#: Every update of a covered row counts its version (``storage.models.row_version_column``; ``storage.audit_chain``).
_NEXT_VERSION = "row_version = row_version + 1"
_SQLITE_STATE = f"SELECT state FROM {_requests.name} WHERE id = :request_id"
_SQLITE_UPSERT_KEYS = {count: replay_keys.upsert_sql(count) for count in (1, 2)}


@functools.cache
def _insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(f':{name}' for name in columns)})"


@functools.cache
def _update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    return f"UPDATE {_requests.name} SET {assignments}, {_NEXT_VERSION} WHERE id = :request_id"


def _sqlite_values(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as SQLite's driver takes them: each through its column type's bind processor (the datetimes)."""
    converted = dict(values)
    for name, process in _sqlite_bind_processors(table).items():
        if name in converted:
            converted[name] = process(converted[name])
    return converted


@functools.cache
def _sqlite_bind_processors(table: Table) -> dict[str, Callable[[Any], Any]]:
    processors = {column.name: column.type.bind_processor(sqlite.dialect()) for column in table.columns}
    return {name: process for name, process in processors.items() if process is not None}


def _record_in_one_statement(database: Database, delivery: NewDelivery) -> int | None:
    request, replay = delivery.request, delivery.replay
    columns, transitions = lifecycle.moves_as_rows(request.state, delivery.moves, callback_id=None, at=delivery.at)
    columns = {**columns, "result": delivery.result} if delivery.moves else {}
    statement = _in_one_statement(
        tuple(delivery.row),
        tuple(columns),
        len(transitions),
        delivery.download is not None,
        len(replay.all) if replay else 0,
    )
    parameters = {
        **_prefixed("cb_", delivery.row),
        **_prefixed("set_", columns),
        "request_id": request.id,
        "expected_state": request.state,
        "at": delivery.at,
    }
    for n, transition in enumerate(transitions):
        parameters.update(
            {
                f"from_{n}": transition["from_state"],
                f"to_{n}": transition["to_state"],
                f"reason_{n}": transition["reason"],
            }
        )
    if delivery.download is not None:
        parameters.update(job_kind=jobs.ARCHIVE, job_state=jobs.QUEUED, payload=delivery.download.payload_sealed)
    if replay is not None:
        parameters.update(replay.parameters())
    answer = database.single_statement(statement, parameters)
    assert answer is not None  # the statement always answers one row
    callback_id, still_there = answer
    if not still_there:
        raise RequestMoved(request.id)
    return callback_id


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


@functools.cache
def _in_one_statement(
    callback_columns: tuple[str, ...],
    request_columns: tuple[str, ...],
    transitions: int,
    queue_download: bool,
    replay_keys_count: int,
) -> str:
    """The PostgreSQL statement that records one delivery and all it causes, for one shape of it.

    Its parts are CTEs: the request's row locked while it is still in the state the
    decision read (else nothing is written), the replay keys (when given), the
    ``callbacks`` row (only when the deciding key was written), and for an accepted
    delivery (``request_columns``) the request's move, its transitions and its archive
    job, each made from the delivery's row so that none is written without it. It
    answers one row: the delivery's id (NULL when nothing was written) and whether the
    request was still in that state.
    """
    parts = ["locked AS (SELECT id FROM requests WHERE id = :request_id AND state = :expected_state FOR UPDATE)"]
    guard = "EXISTS (SELECT 1 FROM locked)"
    if replay_keys_count:
        parts.append(f"keys AS ({replay_keys.upsert_sql(replay_keys_count, guard=guard)})")
        guard += " AND EXISTS (SELECT 1 FROM keys WHERE key = :replay_deciding)"
    values = ", ".join(f"CAST(:cb_{name} AS {_postgres_type(_callbacks.c[name])})" for name in callback_columns)
    parts.append(
        f"delivery AS (INSERT INTO {_callbacks.name} ({', '.join(callback_columns)}) "
        f"SELECT {values} WHERE {guard} RETURNING id)"
    )
    if request_columns:
        assignments = ", ".join(f"{name} = :set_{name}" for name in request_columns)
        parts.append(
            f"moved AS (UPDATE {_requests.name} SET {assignments}, authorising_callback_id = delivery.id, "
            f"{_NEXT_VERSION} "
            f"FROM delivery WHERE {_requests.name}.id = :request_id)"
        )
        steps = ", ".join(f"(:from_{n}, :to_{n}, :reason_{n})" for n in range(transitions))
        parts.append(
            f"recorded AS (INSERT INTO {_transitions.name} (request_id, from_state, to_state, at, reason, "
            f"callback_id) SELECT :request_id, step.from_state, step.to_state, :at, step.reason, delivery.id "
            f"FROM delivery, (VALUES {steps}) AS step (from_state, to_state, reason))"
        )
    if queue_download:
        parts.append(
            f"queued AS (INSERT INTO {_jobs.name} (kind, request_id, callback_id, payload_sealed, state, "
            "attempts, run_after, created_at, updated_at) SELECT :job_kind, :request_id, delivery.id, "
            ":payload, :job_state, 0, :at, :at, :at FROM delivery)"
        )
    statement = "WITH " + ", ".join(parts) + " SELECT (SELECT id FROM delivery), EXISTS (SELECT 1 FROM locked)"
    return _NAMED_PARAMETER.sub(r"%(\1)s", statement)  # psycopg's own parameter style: run on its cursor


def _postgres_type(column: Column[Any]) -> str:
    """The column's type as PostgreSQL names it: a parameter in a SELECT list is cast to it."""
    return str(column.type.compile(dialect=postgresql.dialect()))
