"""Shared fixtures. Server and backend fixtures live in ``tests/support/`` as plugins."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from receiver.services import Services
from tests.support.contract import ContractClient

pytest_plugins = [
    "verification.testing",
    "tests.support.databases",
    "tests.support.redis_server",
    "tests.support.https_server",
    "tests.support.s3server",
    "tests.support.processes",
    "tests.support.tcp_proxy",
    "tests.support.simulators",
    "tests.support.smtp_server",
]

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
