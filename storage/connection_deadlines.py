"""A deadline on every PostgreSQL call, kept by the client: for a server that cannot answer at all.

PostgreSQL's ``statement_timeout`` and ``lock_timeout`` bound the work a server does,
and TCP keepalives and ``tcp_user_timeout`` notice a peer that stopped acknowledging.
Neither helps when the server's processes are frozen (SIGSTOP, a stalled disk) while
its kernel still acknowledges every byte: the statement waits for an answer that never
comes, and the web thread waits with it. So each call on a connection (a statement, a
commit, a rollback) carries a deadline a little beyond the server's own timeout, and one
watch thread per process shuts down the socket of a connection whose call outlives it.
libpq then reads the end of the stream, the call fails as a lost connection, SQLAlchemy
discards the pool, and the caller gets ``StorageError("unavailable")``.

Shutting the socket down (not closing it) leaves the descriptor to libpq, so it is never
closed twice nor reused under its owner.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, cast

import psycopg
from sqlalchemy import Engine, event

#: How often the watch thread looks for overdue calls: a deadline fires at most this late.
TICK_SECONDS = 0.25


class ConnectionDeadlines:
    """The armed deadlines of this process's connections, and the thread that enforces them."""

    def __init__(self, *, tick: float = TICK_SECONDS) -> None:
        self._tick = tick
        self._armed: dict[Any, float] = {}
        self._lock = threading.Lock()
        self._watching_in: int | None = None
        self.shut_down = 0  # connections shut for outliving their deadline

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._lock:
            self._armed[dbapi_connection] = deadline
            if self._watching_in is None:
                self._start_watching()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._armed.pop(dbapi_connection, None)

    def forget_parent(self) -> None:
        """In a forked child: the parent's deadlines, its thread and the state of its lock are not ours."""
        self._lock = threading.Lock()
        self._armed = {}
        self._watching_in = None

    def _start_watching(self) -> None:
        self._watching_in = os.getpid()
        threading.Thread(target=self._watch, name="database-deadlines", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:  # held while shutting, so no call is re-armed in between
                for overdue in [c for c, deadline in self._armed.items() if deadline <= now]:
                    del self._armed[overdue]
                    self.shut_down += _shut_down(overdue)


def _shut_down(dbapi_connection: Any) -> int:
    """Shut the connection's socket in both directions; 1 if it was still open, else 0."""
    try:
        fd = dbapi_connection.fileno()
    except psycopg.Error:
        return 0  # already lost or closed: nothing left to wake
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return 0
    return 1


#: One watch thread for every engine of the process.
DEADLINES = ConnectionDeadlines()
os.register_at_fork(after_in_child=DEADLINES.forget_parent)


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose commits and rollbacks, and its cursors' statements, carry a deadline.

    Hooked in at the driver, not through SQLAlchemy's connection events: any listener on those
    sends every statement down SQLAlchemy's slower path (about 60 µs a transaction here).
    """

    deadline_seconds: float = 30.0  # set right after connecting, by ``bound_calls``

    def commit(self) -> None:
        DEADLINES.arm(self, self.deadline_seconds)
        try:
            super().commit()
        finally:
            DEADLINES.disarm(self)

    def rollback(self) -> None:
        DEADLINES.arm(self, self.deadline_seconds)
        try:
            super().rollback()
        finally:
            DEADLINES.disarm(self)


class BoundedCursor(psycopg.Cursor[Any]):
    __slots__ = ()

    def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        connection = _bounded(self)
        DEADLINES.arm(connection, connection.deadline_seconds)
        try:
            return super().execute(query, params, **options)
        finally:
            DEADLINES.disarm(connection)

    def executemany(self, query: Any, params_seq: Any, **options: Any) -> None:
        connection = _bounded(self)
        DEADLINES.arm(connection, connection.deadline_seconds)
        try:
            super().executemany(query, params_seq, **options)
        finally:
            DEADLINES.disarm(connection)


def _bounded(cursor: BoundedCursor) -> BoundedConnection:
    """A bounded cursor's connection, a ``BoundedConnection`` always: only one names this cursor as its factory."""
    return cast(BoundedConnection, cursor.connection)


def bound_calls(engine: Engine, seconds: float) -> None:
    """Make ``engine``'s connections ``BoundedConnection``s whose every call has a deadline of ``seconds``."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> BoundedConnection:
        connection = BoundedConnection.connect(*cargs, cursor_factory=BoundedCursor, **cparams)
        connection.deadline_seconds = seconds
        return connection
