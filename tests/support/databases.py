"""Database fixtures: every test gets its own migrated database, on SQLite and on PostgreSQL.

``database_url`` is parametrised over the databases (for storage tests); ``backend``
over the service's combinations, adding PostgreSQL with the Redis replay cache. SQLite copies a migrated
template file; PostgreSQL gets a schema of its own on the server named by
``TEST_POSTGRES_URL`` (default: the local server's ``test`` database), made by replaying
the statements one real migration ran (``MigrationRecording``: the same DDL, in about a
tenth of the time Alembic takes to work it out again) and, once a test is done with it,
emptied and handed to the next test of the same process (``SchemaPool``), which is
again about ten times quicker than making one.
Where that server cannot be reached the PostgreSQL runs are skipped with one line
saying why, unless ``REQUIRE_SERVICES=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from storage.db import Database

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") == "1"


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres_available() -> str | None:
    """None when the PostgreSQL server answers, else why it does not."""
    try:
        with psycopg.connect(_libpq_url(POSTGRES_URL), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_URL.split('@')[-1]} unavailable: {type(error).__name__}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


def _sqlite_url(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "receiver.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def postgres_schema_url(schema: str) -> str:
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def create_schema(schema: str) -> None:
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')


class MigrationRecording:
    """The statements (with their parameters) one real ``Database.upgrade()`` sent to PostgreSQL, to replay.

    Alembic's reads (the version table, reflection) are replayed too and change nothing; a
    test (``tests/storage/test_db.py``) checks a replayed schema against a migrated one.
    """

    def __init__(self, schema: str) -> None:
        self.statements: list[tuple[str, object, bool]] = []
        event.listen(Engine, "before_cursor_execute", self._record)
        try:
            database = Database(postgres_schema_url(schema))
            database.upgrade()
            database.dispose()
        finally:
            event.remove(Engine, "before_cursor_execute", self._record)

    def _record(self, _connection, _cursor, statement, parameters, _context, executemany) -> None:
        self.statements.append((statement, parameters, executemany))

    def replay(self, schema: str) -> None:
        with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection, connection.cursor() as cursor:
            cursor.execute(f'SET search_path TO "{schema}"')
            for statement, parameters, executemany in self.statements:
                if executemany:
                    cursor.executemany(statement, parameters)  # type: ignore[arg-type]
                else:
                    cursor.execute(statement, parameters or None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def migration_recording(postgres_available: str | None) -> Iterator[MigrationRecording | None]:
    """The migration recorded once per test process, in a schema of its own (dropped at the end)."""
    if postgres_available:
        yield None
        return
    schema = new_schema_name()
    create_schema(schema)
    try:
        yield MigrationRecording(schema)
    finally:
        drop_schema(schema)


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class SchemaPool:
    """Migrated PostgreSQL schemas for one test process, handed out empty, and emptied again before each next use.

    Making a schema (replaying the migration) takes about ten times as long as emptying one: every
    table's rows deleted and every sequence restarted, in one transaction, so a schema handed out
    again is indistinguishable from a fresh one (``tests/storage/test_db.py`` checks it). A schema
    whose tables are not the migration's (a test made one of its own) or that cannot be emptied in
    time (a lock someone still holds) is dropped instead.
    """

    def __init__(self, recording: MigrationRecording) -> None:
        self._recording = recording
        self._free: list[str] = []
        self._connection: psycopg.Connection | None = None
        self._tables: frozenset[str] | None = None  # the migration's tables, read off the first schema made

    def take(self) -> str:
        """A migrated schema with no rows, emptied now rather than when it was given back: a test's processes can
        outlive the fixture that gave its schema back (fixtures are torn down in the reverse order of their
        set-up), and may still write into it until the test's own teardown has stopped them."""
        while self._free:
            schema = self._free.pop()
            if self._emptied(schema):
                return schema
        schema = new_schema_name()
        create_schema(schema)
        self._recording.replay(schema)
        if self._tables is None:
            self._tables = tables_of(self._cleaner(), schema)
        return schema

    def give_back(self, schema: str) -> None:
        self._free.append(schema)

    def _emptied(self, schema: str) -> bool:
        """Empty ``schema`` for the next test; False (and the schema dropped) if it no longer holds exactly the
        migration's tables."""
        try:
            if tables_of(self._cleaner(), schema) != self._tables:
                raise psycopg.errors.DuplicateTable(f"schema {schema} does not hold the migration's tables only")
            empty_schema(self._cleaner(), schema)
        except psycopg.Error:
            self._close_cleaner()
            drop_schema(schema)
            return False
        return True

    def close(self) -> None:
        self._close_cleaner()
        for schema in self._free:
            drop_schema(schema)
        self._free.clear()

    def _cleaner(self) -> psycopg.Connection:
        """One connection empties every schema: a new one for each would cost more than the emptying."""
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True)
        return self._connection

    def _close_cleaner(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def tables_of(connection: psycopg.Connection, schema: str) -> frozenset[str]:
    rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    return frozenset(table for (table,) in rows)


def empty_schema(connection: psycopg.Connection, schema: str) -> None:
    """Delete every row but Alembic's version and set every sequence back to its start, as the migration left
    them: one catalog read, then the statements, in one transaction."""
    with connection.transaction():
        contents = connection.execute(
            "SELECT 'table', tablename, 0 FROM pg_tables WHERE schemaname = %(s)s AND tablename <> 'alembic_version' "
            "UNION ALL SELECT 'sequence', sequencename, start_value FROM pg_sequences WHERE schemaname = %(s)s",
            {"s": schema},
        ).fetchall()
        if not contents:
            raise psycopg.errors.UndefinedTable(f"schema {schema} has no tables")
        statements = [
            "SET LOCAL lock_timeout = '2s'",
            "SET LOCAL synchronous_commit = off",  # a test database: its emptying need not wait for the disk
            # foreign keys and triggers (an append-only guard, say) are the schema's, not this cleanup's
            "SET LOCAL session_replication_role = replica",
        ]
        for kind, name, start in contents:
            if kind == "table":
                statements.append(f'DELETE FROM "{schema}"."{name}"')
            else:
                statements.append(f'SELECT setval(\'"{schema}"."{name}"\', {int(start)}, false)')
        connection.execute("; ".join(statements).encode())


@pytest.fixture(scope="session")
def schema_pool(migration_recording: MigrationRecording | None) -> Iterator[SchemaPool | None]:
    if migration_recording is None:
        yield None
        return
    pool = SchemaPool(migration_recording)
    yield pool
    pool.close()


@contextmanager
def pooled_schema(postgres_available: str | None, schema_pool: SchemaPool | None) -> Iterator[str]:
    """A PostgreSQL URL whose connections see only a migrated, empty schema, from the pool and back to it."""
    if postgres_available or schema_pool is None:
        skip_or_fail(postgres_available or "PostgreSQL unavailable")
    assert schema_pool is not None
    schema = schema_pool.take()
    try:
        yield postgres_schema_url(schema)
    finally:
        schema_pool.give_back(schema)


@pytest.fixture
def postgres_url(postgres_available: str | None, schema_pool: SchemaPool | None) -> Iterator[str]:
    """A PostgreSQL URL whose connections see only a migrated, empty schema of their own."""
    with pooled_schema(postgres_available, schema_pool) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty database of each backend in turn."""
    if request.param == "sqlite":
        return _sqlite_url(sqlite_template, tmp_path)
    return request.getfixturevalue("postgres_url")


@dataclass(frozen=True)
class Backend:
    """The backing services one run of the service tests uses."""

    database_url: str
    replay_cache_url: str | None = None


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backend(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Backend:
    """The service's backends in turn: SQLite, PostgreSQL, and PostgreSQL with the Redis replay cache."""
    if request.param == "sqlite":
        return Backend(_sqlite_url(sqlite_template, tmp_path))
    replay = request.getfixturevalue("redis_url") if request.param.endswith("redis") else None
    return Backend(request.getfixturevalue("postgres_url"), replay)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database, for tests about one backend only."""
    return _sqlite_url(sqlite_template, tmp_path)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()
