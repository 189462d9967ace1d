"""Shared fixtures. Server and backend fixtures live in ``tests/support/`` as plugins."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from receiver.services import Services
from tests.support.contract import ContractClient
from tests.support.counts import write_summary

pytest_plugins = [
    "verification.testing",
    "tests.support.url_builders",
    "tests.support.jinja_bytecode",
    "tests.support.sql_compiled",
    "tests.support.databases",
    "tests.support.redis_server",
    "tests.support.https_server",
    "tests.support.s3server",
    "tests.support.processes",
    "tests.support.tcp_proxy",
    "tests.support.simulators",
    "tests.support.smtp_server",
    "tests.support.oidc_provider",
    # one Chromium per test process, shared by the console's and the subject's browser tests
    "tests.support.browser",
    "tests.support.tsa",
]

# The suite starts hundreds of Python processes (gunicorn, workers, commands): they keep the bytecode they compile,
# even where the environment asks for none, or each would compile the service and its libraries again (`make test`
# clears the setting for the test processes too; this covers pytest run by hand).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

PUBLIC_URL = "https://hooks.example.test"
CALLBACK_URL = PUBLIC_URL + "/webhooks/messagebird/personal-data"
ADMIN_TOKEN = "admin-" + "x" * 26


@pytest.fixture
def app_env(backend, messagebird_signing_key: str, tmp_path) -> dict[str, str]:
    """The environment a test app is built from; tests change entries before asking for ``app``."""
    archives = tmp_path / "archives"
    archives.mkdir()
    return {
        "PUBLIC_URL": PUBLIC_URL,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "MESSAGEBIRD_SIGNING_KEY": messagebird_signing_key,
        "DATABASE_URL": backend.database_url,
        "ARCHIVE_STORE_URL": f"file://{archives}",
        "LOG_FORMAT": "json",
        "DATABASE_TIMEOUT_SECONDS": "2",
        **({"REPLAY_CACHE_URL": backend.replay_cache_url} if backend.replay_cache_url else {}),
    }


@pytest.fixture
def app(app_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(app_env)
    app.config["TESTING"] = True
    app.test_client_class = ContractClient  # every answer a test sees is held to the API contract
    yield app
    app.extensions["services"].close()


@pytest.fixture
def services(app: Flask) -> Services:
    return app.extensions["services"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


#: The test modules whose outcome depends on where replay keys and refusal counts live: only these run a
#: third time, on PostgreSQL with the Redis replay cache and limiter. Everywhere else that backend runs the
#: same code on the same PostgreSQL as the run before it, and adds time, not proof.
REDIS_MATTERS = frozenset(
    {
        "tests/receiver/web/test_webhooks.py",
        "tests/receiver/web/test_refusals.py",
        "tests/receiver/web/test_health.py",
        "tests/receiver/test_processes.py",
        "tests/test_app.py",
        "tests/faults/test_concurrent_duplicates.py",
        "tests/faults/test_replay_keys_kill.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL + Redis runs of the modules where Redis changes nothing (``REDIS_MATTERS``)."""
    dropped = [
        item
        for item in items
        if _backend_of(item) == "postgres+redis" and item.nodeid.split("::", 1)[0] not in REDIS_MATTERS
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [item for item in items if item not in gone]
    _slow_modules_first(items)


def _slow_modules_first(items: list[pytest.Item]) -> None:
    """Start the modules with a test marked ``slow`` first (each module's tests kept together and in order), so
    that the processes sharing the suite end on quick tests and finish together instead of one waiting for
    another's last long test."""
    slow = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow)


def _backend_of(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec is not None else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault tests' counts (``tests.support.counts``)."""
    write_summary(terminalreporter)
