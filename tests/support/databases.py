"""Database fixtures: every test gets its own migrated database, on SQLite and on PostgreSQL.

``database_url`` is parametrised over the databases (for storage tests); ``backend``
over the service's combinations, adding PostgreSQL with the Redis replay cache. SQLite copies a migrated
template file; PostgreSQL gets a fresh schema (dropped afterwards) on the server
named by ``TEST_POSTGRES_URL`` (default: the local server's ``test`` database), made by
replaying the statements one real migration ran (``MigrationRecording``): the same
DDL, in about a tenth of the time Alembic takes to work it out again for every test.
Where that server cannot be reached the PostgreSQL runs are skipped with one line
saying why, unless ``REQUIRE_SERVICES=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
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
    schema = f"t_{uuid.uuid4().hex[:12]}"
    create_schema(schema)
    try:
        yield MigrationRecording(schema)
    finally:
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_url(postgres_available: str | None, migration_recording: MigrationRecording | None) -> Iterator[str]:
    """A PostgreSQL URL whose connections see only a fresh, migrated schema."""
    if postgres_available or migration_recording is None:
        skip_or_fail(postgres_available or "PostgreSQL unavailable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    create_schema(schema)
    migration_recording.replay(schema)  # type: ignore[union-attr]
    url = postgres_schema_url(schema)
    try:
        yield url
    finally:
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


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
