"""The database connection: one engine per process, transactions that speak StorageError.

SQLite is the embedded default (WAL, a busy timeout, every write transaction
begun IMMEDIATE so concurrent writers queue instead of failing); PostgreSQL
through psycopg runs the same code. On SQLite every transaction first takes the
writer's turn (``storage.sqlite_writing``).

Every wait has a bound, ``DATABASE_TIMEOUT_SECONDS`` (``timeout_seconds``): on SQLite the
writer's turn and the busy timeout; on PostgreSQL the server's ``statement_timeout``,
``lock_timeout`` and ``idle_in_transaction_session_timeout`` (twice it), the connect timeout, TCP
keepalives and ``tcp_user_timeout`` (a partition), the wait for a pooled connection, and
a client-side deadline on every call for a server that cannot answer at all
(``storage.connection_deadlines``). A hung database costs a caller at most about that
long, then ``StorageError("unavailable")``; and while one call is finding out whether a
server that stopped answering is back, the others fail at once (``storage.breaker``).
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, CursorResult, Engine, UpdateBase, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from storage.breaker import Breaker
from storage.clock import EXECUTION_OPTION, Clock
from storage.connection_deadlines import bound_calls
from storage.errors import StorageError, storage_error_from
from storage.sqlite_writing import WriterTurn

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig


class Database:
    """An engine and a session factory; ``transaction()`` is the one way to use them.

    ``clock`` is the service's clock (``storage.clock``): the engine carries it to the
    storage functions and to the columns stamped by default.
    """

    def __init__(self, url: str, *, timeout_seconds: float = 5.0, clock: Clock | None = None) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.clock = clock or Clock()
        self.engine = _create_engine(url, timeout_seconds)
        self.engine.update_execution_options(**{EXECUTION_OPTION: self.clock})
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = WriterTurn(_sqlite_path(url), timeout_seconds) if self.dialect == "sqlite" else None
        self._breaker = Breaker("database") if self.dialect != "sqlite" else None

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

    def single_statement(self, sql: str, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run one statement as a transaction of its own (autocommit) on the driver's own cursor; its first
        row, or None. For a hot path's one read, and on PostgreSQL its one write that guards itself
        (``storage.deliveries``): one round trip, no BEGIN or COMMIT. On SQLite for reads only (they
        do not wait for the writer's turn; writes do, through ``connection()``).

        ``sql`` is the driver's text (``%(name)s`` parameters on PostgreSQL, ``:name`` on SQLite) and
        the values are the driver's. Failures as ``StorageError``, as everywhere: a connection the
        driver lost is dropped from the pool.
        """
        with self._storage_errors(), self.engine.connect() as connection, self.driver_cursor(connection) as cursor:
            return _first_row_autocommit(cursor, sql, parameters)

    @contextmanager
    def driver_cursor(self, connection: Connection) -> Iterator[Any]:
        """The driver's own cursor on ``connection``, for a hot path's fixed statements (SQLAlchemy's
        execution costs more than the statements there). The driver's errors leave as SQLAlchemy's,
        so the callers' ``StorageError`` translation holds, and a connection it lost is dropped."""
        driver = connection.connection.driver_connection
        assert driver is not None  # None only once the connection is closed or invalidated
        dbapi_error = connection.dialect.loaded_dbapi.Error
        try:
            cursor = driver.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        except dbapi_error as error:
            lost = connection.dialect.is_disconnect(error, driver, None)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                None, None, error, dbapi_error, connection_invalidated=lost, dialect=connection.dialect
            ) from error

    @contextmanager
    def reading(self, *, one_snapshot: bool = False) -> Iterator[Connection]:
        """A transaction for reading only: on SQLite a deferred one, which neither waits for the writer's
        turn nor holds up a writer (WAL lets readers and the writer through side by side).

        ``one_snapshot``: every statement sees the database as it was at the first, as a SQLite read
        transaction does by itself; on PostgreSQL the transaction is REPEATABLE READ (at its default,
        READ COMMITTED, each statement sees what committed before it began).
        """
        with self._storage_errors(), self.engine.connect() as connection:
            options: dict[str, Any] = {"read_only": True}
            if one_snapshot and self.dialect == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            with connection.execution_options(**options).begin():
                yield connection

    @contextmanager
    def reading_session(self, *, one_snapshot: bool = False) -> Iterator[Session]:
        """An ORM session over ``reading()``: for a long read (an evidence pack) that must not hold up writers."""
        with (
            self.reading(one_snapshot=one_snapshot) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def _one_writer(self) -> AbstractContextManager[object]:
        """On SQLite, the writer's turn (see the module's docstring); elsewhere nothing."""
        return self._writer.held() if self._writer is not None else nullcontext()

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Driver errors as ``StorageError``; on PostgreSQL through the breaker (``storage.breaker``)."""
        try:
            with self._breaker.call(_did_not_answer) if self._breaker is not None else nullcontext():
                yield
        except DBAPIError as error:
            translated = storage_error_from(error)
            if translated is None:
                raise
            raise translated from error
        except PoolTimeout as error:
            raise StorageError("unavailable", "no database connection free within DATABASE_TIMEOUT_SECONDS") from error

    def ping(self) -> None:
        """Raise ``StorageError("unavailable")`` unless the database answers a query: one read, no writer's turn."""
        self.single_statement("SELECT 1", {})

    def write_blocker(self, *, min_free_bytes: int) -> str | None:
        """Why the database cannot take writes now, or None; found without writing anything.

        SQLite: less than ``min_free_bytes`` free on its file system (a full disk refuses every
        commit). PostgreSQL: a server in recovery (a standby, or a primary replaying its WAL) or
        read-only (``default_transaction_read_only``). One read, without the writer's turn;
        ``StorageError("unavailable")`` when the database does not answer it.
        """
        if self.dialect == "sqlite":
            self.single_statement("SELECT 1", {})
            return _low_space(self._sqlite_directory(), min_free_bytes)
        row = self.single_statement(_POSTGRES_WRITABLE, {})
        assert row is not None  # the statement always answers one row
        in_recovery, read_only = row
        if in_recovery:
            return "recovering: the server is in recovery (a standby, or replaying its WAL)"
        return "read_only: the server takes no writes (default_transaction_read_only)" if read_only == "on" else None

    def _sqlite_directory(self) -> Path | None:
        path = _sqlite_path(self.url)
        return Path(path).parent if path is not None else None

    def upgrade(self) -> None:
        """Apply every Alembic migration up to the newest.

        On PostgreSQL through an engine of its own: a migration may run longer than any
        callback statement, so it has no statement or client-side deadline (connecting and
        waiting for a lock stay bounded).
        """
        own = self.dialect != "sqlite"
        engine = _create_engine(self.url, self.timeout_seconds, for_migrations=True) if own else self.engine
        try:
            with engine.begin() as connection:
                from alembic import command  # only migrations need Alembic: no process loads it otherwise

                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as error:
            raise StorageError("unavailable", "database unavailable for migration") from error
        finally:
            if own:
                engine.dispose()

    def forget_inherited_connections(self) -> None:
        """In a forked process: leave the parent's pooled connections to the parent, and open our own."""
        self.engine.dispose(close=False)

    def dispose(self) -> None:
        self.engine.dispose()


def rows_changed(session: Session, statement: UpdateBase) -> int:
    """Run an UPDATE or DELETE in ``session``; how many rows it matched.

    ``Session.execute`` answers such a statement with a ``CursorResult``, but is typed to answer a
    plain ``Result``, which has no ``rowcount``.
    """
    result = session.execute(statement)
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(statement).__name__} answered no row count")
    return result.rowcount


def _first_row_autocommit(cursor: Any, sql: str, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
    driver = cursor.connection
    if isinstance(driver, sqlite3.Connection):
        return cursor.execute(sql, parameters).fetchone()  # isolation_level None: a statement is its own transaction
    driver.autocommit = True
    try:
        return cursor.execute(sql, parameters).fetchone()
    finally:
        if not driver.closed:
            driver.autocommit = False


_POSTGRES_WRITABLE = "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
_MIB = 1024 * 1024


def _low_space(directory: Path | None, min_free_bytes: int) -> str | None:
    """``no_space: ...`` when the file system holding ``directory`` has less than ``min_free_bytes`` free."""
    if directory is None:
        return None  # an in-memory database
    try:
        found = os.statvfs(directory)
    except OSError as error:
        raise StorageError("unavailable", f"database directory unreadable ({type(error).__name__})") from error
    free = found.f_bavail * found.f_frsize
    if free >= min_free_bytes:
        return None
    return f"no_space: {free / _MIB:.1f} MiB free on the database's file system, {min_free_bytes / _MIB:.0f} needed"


def _did_not_answer(error: BaseException) -> bool:
    """A failure the server did not send: a timeout, a lost or refused connection (it would have sent a SQLSTATE)."""
    if not isinstance(error, DBAPIError):
        return False
    translated = storage_error_from(error)
    return (
        translated is not None and translated.reason == "unavailable" and getattr(error.orig, "sqlstate", None) is None
    )


def _sqlite_path(url: str) -> str | None:
    database = make_url(url).database
    return None if not database or database == ":memory:" else str(Path(database).resolve())


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


#: How long past the server's own ``statement_timeout`` the client waits before giving a call up.
CLIENT_GRACE_SECONDS = 0.5


def _create_engine(url: str, timeout_seconds: float, *, for_migrations: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, timeout_seconds)
    connect_args = postgres_connect_args(parsed.query.get("options"), timeout_seconds, for_migrations=for_migrations)
    # No pre-ping: it costs a round trip on every checkout. A connection a restart broke fails its
    # first statement instead; SQLAlchemy then discards the whole pool, and that one answer is a 503.
    engine = create_engine(url, pool_recycle=1800, pool_timeout=timeout_seconds, connect_args=connect_args)
    if not for_migrations:
        bound_calls(engine, timeout_seconds + CLIENT_GRACE_SECONDS)
    return engine


def postgres_connect_args(
    url_options: str | tuple[str, ...] | None, timeout_seconds: float, *, for_migrations: bool = False
) -> dict[str, Any]:
    """libpq parameters that bound every wait on the server and the network by ``timeout_seconds``.

    The server's timeouts go in ``options`` after any the URL already sets (a ``search_path``,
    say); a URL that sets one of them itself is overridden. Keepalives notice a silent peer on
    an idle connection within about ``timeout_seconds``, ``tcp_user_timeout`` one that stopped
    acknowledging what was sent.
    """
    milliseconds = max(1, round(timeout_seconds * 1000))
    server = {"lock_timeout": milliseconds}
    if not for_migrations:  # a transaction may wait up to the timeout on the replay cache: idle twice that is lost
        server |= {"statement_timeout": milliseconds, "idle_in_transaction_session_timeout": 2 * milliseconds}
    given = " ".join([url_options] if isinstance(url_options, str) else url_options or [])
    half = max(1, int(timeout_seconds // 2))  # silent for half, then one probe a second for half
    return {
        "options": " ".join([given, *(f"-c {name}={value}" for name, value in server.items())]).strip(),
        "connect_timeout": max(2, math.ceil(timeout_seconds)),  # libpq's minimum is 2 s
        "keepalives": 1,
        "keepalives_idle": half,
        "keepalives_interval": 1,
        "keepalives_count": half,
        "tcp_user_timeout": milliseconds,
    }


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
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
