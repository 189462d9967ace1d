"""The Redis server for replay-cache tests: ``TEST_REDIS_URL`` (default the local server).

Skipped with one line saying why where it cannot be reached, unless
``REQUIRE_SERVICES=1`` turns the skip into a failure.
"""

from __future__ import annotations

import os

import pytest
import redis

from tests.support.databases import skip_or_fail

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_available() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except redis.RedisError as error:
        return f"Redis at {REDIS_URL} unavailable: {type(error).__name__}"


@pytest.fixture
def redis_url(redis_available: str | None) -> str:
    if redis_available:
        skip_or_fail(redis_available)
    return REDIS_URL
