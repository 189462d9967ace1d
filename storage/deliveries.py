"""A callback delivery's record and its consequences, written with a few Core statements.

This is the callback endpoint's hot path: every MessageBird callback locks its
request, records the delivery and, when accepted, moves the request on and may
queue its archive download, all in the caller's one transaction. The ORM's unit
of work (flushes, identity map, lazy loads) cost several times the statements
themselves here, so these functions speak SQLAlchemy Core: statements built
once, ``RETURNING`` where a value comes back, no reads that are not needed. On
PostgreSQL, where every statement is a round trip, an accepted delivery is
recorded with one statement (data-modifying CTEs); SQLite runs in-process and
takes the same writes one by one.

They follow the same rules as the ORM paths: moves are checked by
``lifecycle.moves_as_rows``, jobs are the rows ``jobs.enqueue`` would write.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, insert, select, text, update

from storage import jobs, lifecycle
from storage.models import Callback, Job, ProcessorRequest, Transition

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


def record_delivery(connection: Connection, row: Mapping[str, Any]) -> int:
    """Insert one ``callbacks`` row; its id."""
    return connection.execute(_RECORD_DELIVERY, row).scalar_one()


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
) -> int:
    """Record an accepted delivery (``row``) and move its request on; the delivery's id."""
    if connection.dialect.name != "postgresql":
        callback_id = record_delivery(connection, row)
        advance(connection, request, moves, callback_id=callback_id, at=at, result=result, download=download)
        return callback_id
    columns, transitions = lifecycle.moves_as_rows(request.state, moves, callback_id=None, at=at)
    columns.update(result=result)
    statement = _accepted_in_one_statement(tuple(row), tuple(columns), len(transitions), download is not None)
    parameters = {f"cb_{name}": value for name, value in row.items()}
    parameters.update({f"set_{name}": value for name, value in columns.items()}, request_id=request.id, at=at)
    for n, transition in enumerate(transitions):
        parameters.update({f"from_{n}": transition["from_state"], f"to_{n}": transition["to_state"],
                           f"reason_{n}": transition["reason"]})
    if download is not None:
        parameters.update(job_kind=jobs.ARCHIVE, job_state=jobs.QUEUED, payload=download.payload_sealed)
    return connection.execute(statement, parameters).scalar_one()


@functools.cache
def _accepted_in_one_statement(
    callback_columns: tuple[str, ...], request_columns: tuple[str, ...], transitions: int, queue_download: bool
) -> TextClause:
    """The PostgreSQL statement that records one accepted delivery and all it causes, for one shape of it."""
    callback = (f"INSERT INTO {_callbacks.name} ({', '.join(callback_columns)}) "
                f"VALUES ({', '.join(f':cb_{name}' for name in callback_columns)}) RETURNING id")
    assignments = ", ".join(f"{name} = :set_{name}" for name in request_columns)
    moved = (f"UPDATE {_requests.name} SET {assignments}, authorising_callback_id = (SELECT id FROM delivery) "
             "WHERE id = :request_id")
    steps = ", ".join(f"(:from_{n}, :to_{n}, :reason_{n})" for n in range(transitions))
    recorded = (f"INSERT INTO {_transitions.name} (request_id, from_state, to_state, at, reason, callback_id) "
                f"SELECT :request_id, step.from_state, step.to_state, :at, step.reason, delivery.id "
                f"FROM delivery, (VALUES {steps}) AS step (from_state, to_state, reason)")
    parts = [f"delivery AS ({callback})", f"moved AS ({moved})", f"recorded AS ({recorded})"]
    if queue_download:
        parts.append(f"queued AS (INSERT INTO {_jobs.name} (kind, request_id, callback_id, payload_sealed, state, "
                     "attempts, run_after, created_at, updated_at) SELECT :job_kind, :request_id, delivery.id, "
                     ":payload, :job_state, 0, :at, :at, :at FROM delivery)")
    statement = text("WITH " + ", ".join(parts) + " SELECT id FROM delivery")
    typed = [bindparam(f"cb_{name}", type_=_callbacks.c[name].type) for name in callback_columns]
    typed += [bindparam(f"set_{name}", type_=_requests.c[name].type) for name in request_columns]
    return statement.bindparams(*typed, bindparam("at", type_=_transitions.c.at.type))


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
