"""Database fixtures: every test gets its own migrated database, on SQLite and on PostgreSQL.

``database_url`` is parametrised over the databases (for storage tests); ``backend``
over the service's combinations, adding PostgreSQL with the Redis replay cache. SQLite copies a migrated
template file; PostgreSQL gets a fresh schema (dropped afterwards) on the server
named by ``TEST_POSTGRES_URL`` (default: the local server's ``test`` database).
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


@pytest.fixture
def postgres_url(postgres_available: str | None) -> Iterator[str]:
    """A PostgreSQL URL whose connections see only a fresh, migrated schema."""
    if postgres_available:
        skip_or_fail(postgres_available)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    database = Database(url)
    database.upgrade()
    database.dispose()
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
