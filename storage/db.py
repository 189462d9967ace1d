"""The database connection: one engine per process, transactions that speak StorageError.

SQLite is the embedded default (WAL, a busy timeout, every write transaction
begun IMMEDIATE so concurrent writers queue instead of failing); PostgreSQL
through psycopg runs the same code. On SQLite every transaction first takes the
writer's turn (``storage.sqlite_writing``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError, storage_error_from
from storage.sqlite_writing import WriterTurn

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

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A transaction for reading only: on SQLite a deferred one, which neither waits for the writer's
        turn nor holds up a writer (WAL lets readers and the writer through side by side)."""
        with self._storage_errors(), self.engine.connect() as connection:
            with connection.execution_options(read_only=True).begin():
                yield connection

    def _one_writer(self) -> AbstractContextManager[object]:
        """On SQLite, the writer's turn (see the module's docstring); elsewhere nothing."""
        return self._writer.held() if self._writer is not None else nullcontext()

    @staticmethod
    @contextmanager
    def _storage_errors() -> Iterator[None]:
        try:
            yield
        except DBAPIError as error:
            translated = storage_error_from(error)
            if translated is None:
                raise
            raise translated from error

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


def _sqlite_path(url: str) -> str | None:
    database = make_url(url).database
    return None if not database or database == ":memory:" else str(Path(database).resolve())


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
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
