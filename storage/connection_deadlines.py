"""A deadline on every PostgreSQL call, kept by the client: for a server that cannot answer at all.

PostgreSQL's ``statement_timeout`` and ``lock_timeout`` bound the work a server does,
and TCP keepalives and ``tcp_user_timeout`` notice a peer that stopped acknowledging.
Neither helps when the server's processes are frozen (SIGSTOP, a stalled disk) while
its kernel still acknowledges every byte: the statement waits for an answer that never
comes, and the web thread waits with it. So each call the engine makes on a connection
(a statement, a commit, a rollback) carries a deadline a little beyond the server's own
timeout, and one watch thread per process shuts down the socket of a connection whose
call outlives it. libpq then reads the end of the stream, the call fails as a lost
connection, SQLAlchemy discards the pool, and the caller gets ``StorageError("unavailable")``.

Shutting the socket down (not closing it) leaves the descriptor to libpq, so it is never
closed twice nor reused under its owner. A deadline armed by a commit is disarmed when
the connection goes back to the pool, which ``Database`` does right after every commit.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

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
        self.shut_down = 0  # connections shut for outliving their deadline, for tests and curiosity

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._lock:
            self._armed[dbapi_connection] = deadline
            if self._watching_in != os.getpid():  # the first call, or the first in a forked child
                self._start_watching()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._armed.pop(dbapi_connection, None)

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


def bound_calls(engine: Engine, seconds: float, deadlines: ConnectionDeadlines = DEADLINES) -> None:
    """Give every statement, commit and rollback ``engine`` makes a deadline of ``seconds``."""

    def arm(conn: Any, *_: Any) -> None:
        if (dbapi_connection := _driver_connection(conn)) is not None:
            deadlines.arm(dbapi_connection, seconds)

    def disarm(conn: Any, *_: Any) -> None:
        if (dbapi_connection := _driver_connection(conn)) is not None:
            deadlines.disarm(dbapi_connection)

    def disarm_failed(context: Any) -> None:
        disarm(context.connection)

    def arm_pool_reset(dbapi_connection: Any, *_: Any) -> None:
        deadlines.arm(dbapi_connection, seconds)

    def disarm_checked_in(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None:
            deadlines.disarm(dbapi_connection)

    for name, listener in (("before_cursor_execute", arm), ("after_cursor_execute", disarm),
                           ("commit", arm), ("rollback", arm), ("handle_error", disarm_failed),
                           ("reset", arm_pool_reset), ("checkin", disarm_checked_in)):  # fmt: skip
        event.listen(engine, name, listener)


def _driver_connection(conn: Any) -> Any:
    """The driver's connection under a SQLAlchemy ``Connection``; None once it is closed or invalidated."""
    if conn is None or conn.closed or conn.invalidated:
        return None
    return conn.connection.dbapi_connection
