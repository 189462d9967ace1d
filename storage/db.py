"""The database connection: one engine per process, transactions that speak StorageError.

SQLite is the embedded default (WAL, a busy timeout, every write transaction
begun IMMEDIATE so concurrent writers queue instead of failing); PostgreSQL
through psycopg runs the same code.

SQLite has one writer at a time. Writers that all ``BEGIN IMMEDIATE`` at once
wait in SQLite's busy handler, which sleeps in steps of 1, 2, 5, 10 ... up to
100 ms and so wakes long after the lock is free: under load most of the time goes
to sleeping, and the slowest callbacks waited over a second. So on SQLite every
transaction first takes the writer's turn (``WriterTurn``): the threads of one
process queue on a lock that wakes the next one as soon as it is free, and the
processes sharing the file take turns through an ``flock`` on ``<database>-writer.lock``
beside it, polled every fraction of a millisecond. SQLite's own lock and busy
timeout stay in place for any other writer (a migration, the ``sqlite3`` shell).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    """An engine and a session factory; ``transaction()`` is the one way to use them."""

    def __init__(self, url: str, *, timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.engine = _create_engine(url, timeout_seconds)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = WriterTurn(_sqlite_path(url), timeout_seconds) if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Database failures leave as ``StorageError``: ``conflict`` for a refused
        write, ``unavailable`` when the database cannot be reached or is locked.
        """
        with self._storage_errors(), self._one_writer(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction, for paths where the ORM's bookkeeping costs too much.

        Same promises as ``transaction()``: committed on success, rolled back on any
        error, failures as ``StorageError``.
        """
        with self._storage_errors(), self._one_writer(), self.engine.begin() as connection:
            yield connection

    def _one_writer(self) -> AbstractContextManager[object]:
        """On SQLite, the writer's turn (see the module's docstring); elsewhere nothing."""
        return self._writer.held() if self._writer is not None else nullcontext()

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError as error:
            raise StorageError("conflict", "the write conflicts with a stored record") from error
        except (OperationalError, InterfaceError) as error:
            raise _unavailable(error) from error
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            raise _unavailable(error) from error

    def ping(self) -> None:
        """Raise ``StorageError("unavailable")`` unless the database answers a query."""
        with self.transaction() as session:
            session.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        """Apply every Alembic migration up to the newest."""
        try:
            with self.engine.begin() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as error:
            raise StorageError("unavailable", "database unavailable for migration") from error

    def dispose(self) -> None:
        self.engine.dispose()


class WriterTurn:
    """One writer at a time on a SQLite file: a lock between this process's threads, an ``flock`` between processes.

    ``held()`` waits at most ``timeout`` seconds for the turn, then raises
    ``StorageError("unavailable")``; the turn is given back when the block ends.
    For ``:memory:`` (one process only) the thread lock alone is the turn.
    """

    FIRST_POLL_SECONDS = 0.0001
    LONGEST_POLL_SECONDS = 0.002

    def __init__(self, database_path: str | None, timeout: float) -> None:
        self._threads = threading.Lock()
        self._timeout = timeout
        self._lock_path = f"{database_path}-writer.lock" if database_path else None
        self._fd: int | None = None
        self._opened_by: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise _no_turn()
        try:
            fd = self._lock_file()
            if fd is not None:
                _flock_until(fd, deadline)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self) -> int | None:
        """The lock file's descriptor, opened once per process (a forked child opens its own)."""
        if self._lock_path is None:
            return None
        if self._fd is None or self._opened_by != os.getpid():
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._opened_by = os.getpid()
        return self._fd


def _flock_until(fd: int, deadline: float) -> None:
    """Take the exclusive ``flock`` on ``fd``, polling with short growing sleeps until ``deadline``."""
    pause = WriterTurn.FIRST_POLL_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _no_turn() from None
            time.sleep(pause)
            pause = min(pause * 2, WriterTurn.LONGEST_POLL_SECONDS)


def _no_turn() -> StorageError:
    return StorageError("unavailable", "database busy: no turn to write within DATABASE_TIMEOUT_SECONDS")


def _sqlite_path(url: str) -> str | None:
    database = make_url(url).database
    return None if not database or database == ":memory:" else str(Path(database).resolve())


def _unavailable(error: DBAPIError) -> StorageError:
    return StorageError("unavailable", f"database unavailable ({type(error.orig).__name__})")


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _create_engine(url: str, timeout_seconds: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, timeout_seconds)
    connect_args: dict[str, Any] = {"connect_timeout": max(1, int(timeout_seconds))}
    # No pre-ping: it costs a round trip on every checkout. A connection a restart broke fails its
    # first statement instead; SQLAlchemy then discards the whole pool, and that one answer is a 503.
    return create_engine(url, pool_recycle=1800, connect_args=connect_args)


def _create_sqlite_engine(url: str, timeout_seconds: float) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": timeout_seconds})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_seconds * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
