"""The database connection: one engine per process, transactions that speak StorageError.

SQLite is the embedded default (WAL, a busy timeout, every write transaction
begun IMMEDIATE so concurrent writers queue instead of failing); PostgreSQL
through psycopg runs the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    """An engine and a session factory; ``transaction()`` is the one way to use them."""

    def __init__(self, url: str, *, timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.engine = _create_engine(url, timeout_seconds)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Database failures leave as ``StorageError``: ``conflict`` for a refused
        write, ``unavailable`` when the database cannot be reached or is locked.
        """
        try:
            with self._sessions.begin() as session:
                yield session
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
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800, connect_args=connect_args)


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
