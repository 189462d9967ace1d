"""A callback delivery's record and its consequences, written with a few Core statements.

This is the callback endpoint's hot path: every MessageBird callback locks its
request, records the delivery with its replay keys and, when accepted, moves the
request on and may queue its archive download, all in the caller's one transaction. The ORM's unit
of work (flushes, identity map, lazy loads) cost several times the statements
themselves here, so these functions speak SQLAlchemy Core: statements built
once, ``RETURNING`` where a value comes back, no reads that are not needed. On
PostgreSQL, where every statement is a round trip, a delivery is recorded with
one statement (data-modifying CTEs: its replay keys, its row and, when accepted,
all it causes); SQLite runs in-process and takes the same writes one by one.

They follow the same rules as the ORM paths: moves are checked by
``lifecycle.moves_as_rows``, jobs are the rows ``jobs.enqueue`` would write.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, TextClause, bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql

from storage import jobs, lifecycle
from storage import replay as replay_keys
from storage.models import Callback, Job, ProcessorRequest, Transition
from storage.replay import DeliveryKeys

_requests = ProcessorRequest.__table__
_callbacks = Callback.__table__
_transitions = Transition.__table__
_jobs = Job.__table__


@dataclass(frozen=True)
class RequestHead:
    """What deciding on a callback needs to know of its request."""

    id: str
    provider: str
    kind: str
    state: str
    signature_key_sealed: str | None


# Statements built once: their parameters come with each execution, so SQLAlchemy compiles each shape once.
_FIND_REQUEST = select(
    _requests.c.id, _requests.c.provider, _requests.c.kind, _requests.c.state, _requests.c.signature_key_sealed
).where(_requests.c.id == bindparam("request_id"))
#: PostgreSQL locks the row; SQLite's transactions hold the database's write lock from their BEGIN IMMEDIATE.
_LOCK_REQUEST = {"postgresql": _FIND_REQUEST.with_for_update()}


def find_request(connection: Connection, request_id: str) -> RequestHead | None:
    """The request, read without a lock (to check a delivery's signature before any write)."""
    row = connection.execute(_FIND_REQUEST, {"request_id": request_id}).first()
    return RequestHead(*row) if row is not None else None


def lock_request(connection: Connection, request_id: str) -> RequestHead | None:
    """The request, its row locked until the transaction ends."""
    statement = _LOCK_REQUEST.get(connection.dialect.name, _FIND_REQUEST)
    row = connection.execute(statement, {"request_id": request_id}).first()
    return RequestHead(*row) if row is not None else None


_RECORD_DELIVERY = insert(_callbacks).returning(_callbacks.c.id)
_UPDATE_REQUEST = update(_requests).where(_requests.c.id == bindparam("moved_request_id"))
_TRANSITION_COLUMNS = ("request_id", "from_state", "to_state", "at", "reason", "callback_id")


def _insert_transitions(count: int) -> TextClause:
    """One INSERT of ``count`` transitions (parameters ``<column>_<n>``): one round trip, not an executemany.

    Written as text because SQLAlchemy does not cache a multi-row ``insert().values([...])``:
    it would compile the statement anew for every callback.
    """
    rows = ", ".join("(" + ", ".join(f":{column}_{n}" for column in _TRANSITION_COLUMNS) + ")" for n in range(count))
    statement = text(f"INSERT INTO {_transitions.name} ({', '.join(_TRANSITION_COLUMNS)}) VALUES {rows}")
    return statement.bindparams(*(bindparam(f"at_{n}", type_=_transitions.c.at.type) for n in range(count)))


#: A callback moves its request one step (a download queued) or two (completed at once).
_INSERT_TRANSITIONS = {count: _insert_transitions(count) for count in (1, 2)}
_INSERT_JOB = insert(_jobs)


def record_delivery(connection: Connection, row: Mapping[str, Any], replay: DeliveryKeys | None = None) -> int | None:
    """Insert one ``callbacks`` row; its id, or None when ``replay``'s deciding key was live (nothing written)."""
    if replay is None:
        return connection.execute(_RECORD_DELIVERY, row).scalar_one()
    if connection.dialect.name != "postgresql":
        if not replay_keys.record_delivery_keys(connection, replay):
            return None
        return connection.execute(_RECORD_DELIVERY, row).scalar_one()
    statement = _in_one_statement(tuple(row), (), 0, False, len(replay.all))
    return connection.execute(statement, {**_prefixed("cb_", row), **replay.parameters()}).scalar()


@dataclass(frozen=True)
class ArchiveDownload:
    """The archive job an accepted GET callback queues: its sealed URL payload."""

    payload_sealed: str


def record_accepted(
    connection: Connection,
    request: RequestHead,
    row: Mapping[str, Any],
    moves: Sequence[lifecycle.Move],
    *,
    at: dt.datetime,
    result: str | None,
    download: ArchiveDownload | None = None,
    replay: DeliveryKeys | None = None,
) -> int | None:
    """Record an accepted delivery (``row``) and move its request on; the delivery's id.

    With ``replay``, its keys are written first and nothing else is when the deciding one
    was live: the answer is then None.
    """
    if connection.dialect.name != "postgresql":
        if replay is not None and not replay_keys.record_delivery_keys(connection, replay):
            return None
        callback_id = connection.execute(_RECORD_DELIVERY, row).scalar_one()
        advance(connection, request, moves, callback_id=callback_id, at=at, result=result, download=download)
        return callback_id
    columns, transitions = lifecycle.moves_as_rows(request.state, moves, callback_id=None, at=at)
    columns.update(result=result)
    statement = _in_one_statement(tuple(row), tuple(columns), len(transitions), download is not None,
                                  len(replay.all) if replay else 0)
    parameters = {**_prefixed("cb_", row), **_prefixed("set_", columns), "request_id": request.id, "at": at}
    for n, transition in enumerate(transitions):
        parameters.update({f"from_{n}": transition["from_state"], f"to_{n}": transition["to_state"],
                           f"reason_{n}": transition["reason"]})
    if download is not None:
        parameters.update(job_kind=jobs.ARCHIVE, job_state=jobs.QUEUED, payload=download.payload_sealed)
    if replay is not None:
        parameters.update(replay.parameters())
    return connection.execute(statement, parameters).scalar()


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


@functools.cache
def _in_one_statement(
    callback_columns: tuple[str, ...], request_columns: tuple[str, ...], transitions: int, queue_download: bool,
    replay_keys_count: int,
) -> TextClause:
    """The PostgreSQL statement that records one delivery and all it causes, for one shape of it.

    Its parts are data-modifying CTEs: the replay keys (when given), the ``callbacks`` row
    (only when the deciding key was written), and when the delivery is accepted
    (``request_columns``) the request's move, its transitions and its archive job, each
    made from the delivery's row so that none is written without it. It returns the
    delivery's id, or no row when the deciding key was live.
    """
    parts, guard = [], ""
    if replay_keys_count:
        parts.append(f"keys AS ({replay_keys.upsert_sql(replay_keys_count)})")
        guard = " WHERE EXISTS (SELECT 1 FROM keys WHERE key = :replay_deciding)"
    values = ", ".join(f"CAST(:cb_{name} AS {_postgres_type(_callbacks.c[name])})" for name in callback_columns)
    parts.append(f"delivery AS (INSERT INTO {_callbacks.name} ({', '.join(callback_columns)}) "
                 f"SELECT {values}{guard} RETURNING id)")
    if request_columns:
        assignments = ", ".join(f"{name} = :set_{name}" for name in request_columns)
        parts.append(f"moved AS (UPDATE {_requests.name} SET {assignments}, authorising_callback_id = delivery.id "
                     f"FROM delivery WHERE {_requests.name}.id = :request_id)")
        steps = ", ".join(f"(:from_{n}, :to_{n}, :reason_{n})" for n in range(transitions))
        parts.append(f"recorded AS (INSERT INTO {_transitions.name} (request_id, from_state, to_state, at, reason, "
                     f"callback_id) SELECT :request_id, step.from_state, step.to_state, :at, step.reason, delivery.id "
                     f"FROM delivery, (VALUES {steps}) AS step (from_state, to_state, reason))")
    if queue_download:
        parts.append(f"queued AS (INSERT INTO {_jobs.name} (kind, request_id, callback_id, payload_sealed, state, "
                     "attempts, run_after, created_at, updated_at) SELECT :job_kind, :request_id, delivery.id, "
                     ":payload, :job_state, 0, :at, :at, :at FROM delivery)")
    statement = text("WITH " + ", ".join(parts) + " SELECT id FROM delivery")
    typed = [bindparam(f"cb_{name}", type_=_callbacks.c[name].type) for name in callback_columns]
    typed += [bindparam(f"set_{name}", type_=_requests.c[name].type) for name in request_columns]
    if request_columns or queue_download:
        typed.append(bindparam("at", type_=_transitions.c.at.type))
    return statement.bindparams(*typed)


def _postgres_type(column: Column[Any]) -> str:
    """The column's type as PostgreSQL names it: a parameter in a SELECT list is cast to it."""
    return column.type.compile(dialect=postgresql.dialect())


def advance(
    connection: Connection,
    request: RequestHead,
    moves: Sequence[lifecycle.Move],
    *,
    callback_id: int,
    at: dt.datetime,
    result: str | None,
    download: ArchiveDownload | None = None,
) -> None:
    """Move an accepted request on (``moves``, from its current state), and queue its download if any."""
    columns, transitions = lifecycle.moves_as_rows(request.state, moves, callback_id=callback_id, at=at)
    columns.update(result=result, authorising_callback_id=callback_id, moved_request_id=request.id)
    connection.execute(_UPDATE_REQUEST, columns)
    parameters = {f"{column}_{n}": value for n, row in enumerate(transitions)
                  for column, value in {**row, "request_id": request.id}.items()}
    connection.execute(_INSERT_TRANSITIONS[len(transitions)], parameters)
    if download is not None:
        connection.execute(_INSERT_JOB, {
            "kind": jobs.ARCHIVE, "request_id": request.id, "callback_id": callback_id,
            "payload_sealed": download.payload_sealed, "state": jobs.QUEUED, "attempts": 0,
            "run_after": at, "created_at": at, "updated_at": at,
        })
