"""Health probes: /healthz never waits for a backend, /readyz names what is down within a bound."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.engine import make_url

from app import create_app
from receiver.web.health import READINESS_MARGIN_SECONDS, probe_all
from storage.breaker import PROBE_INTERVAL_SECONDS
from storage.errors import StorageError
from tests.support.databases import Backend
from tests.support.redis_server import REDIS_URL

TIMEOUT = 2.0  # DATABASE_TIMEOUT_SECONDS in app_env
READYZ_BOUND = TIMEOUT + READINESS_MARGIN_SECONDS + 0.5  # and a shared machine's scheduling


@pytest.fixture
def backend(sqlite_url) -> Backend:
    return Backend(sqlite_url)


def test_probes_run_at_once_and_one_that_hangs_is_reported_as_a_timeout():
    release = threading.Event()

    def unavailable() -> None:
        raise StorageError("unavailable", "down")

    def slow_but_fine() -> None:
        time.sleep(0.4)

    began = time.monotonic()
    checks = probe_all(
        {"hangs": lambda: release.wait(10), "down": unavailable, "slow": slow_but_fine, "twin": slow_but_fine},
        seconds=0.6,
    )
    release.set()
    assert checks == {"hangs": "timeout", "down": "unavailable", "slow": "ok", "twin": "ok"}
    assert 0.6 <= time.monotonic() - began < 0.8, "the probes ran side by side, and no one waited past the bound"


def _timed_get(client, path: str):
    began = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - began


@pytest.mark.redis
@pytest.mark.timing
def test_readyz_names_a_frozen_replay_cache_within_its_bound(app_env, redis_url, tcp_proxy):
    proxy = tcp_proxy(make_url(REDIS_URL).port or 6379)
    app = create_app({**app_env, "REPLAY_CACHE_URL": f"redis://127.0.0.1:{proxy.port}/0"})
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        proxy.freeze()
        frozen, seconds = _timed_get(client, "/readyz")
        alive, alive_seconds = _timed_get(client, "/healthz")
        proxy.thaw()
        time.sleep(PROBE_INTERVAL_SECONDS)  # the breaker's pause before it tries the backend again
        thawed = client.get("/readyz")
    finally:
        app.extensions["services"].close()
    assert frozen.status_code == 503 and frozen.json["checks"]["replay_cache"] in ("unavailable", "timeout")
    assert frozen.json["checks"]["database"] == "ok"
    assert seconds < READYZ_BOUND, seconds
    assert alive.status_code == 200 and alive_seconds < 0.5
    assert thawed.status_code == 200, thawed.json


@pytest.mark.postgres
@pytest.mark.timing
def test_readyz_names_a_frozen_database_within_its_bound(app_env, postgres_url, tcp_proxy):
    url = make_url(postgres_url)
    proxy = tcp_proxy(url.port or 5432)
    app = create_app({**app_env, "DATABASE_URL": url.set(port=proxy.port).render_as_string(hide_password=False)})
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        proxy.freeze()
        frozen, seconds = _timed_get(client, "/readyz")
        again, seconds_again = _timed_get(client, "/readyz")  # now on a fresh connection: the connect timeout
        alive, alive_seconds = _timed_get(client, "/healthz")
        proxy.thaw()
        time.sleep(PROBE_INTERVAL_SECONDS)  # the breaker's pause before it tries the backend again
        thawed = client.get("/readyz")
    finally:
        app.extensions["services"].close()
    for answer in (frozen, again):
        assert answer.status_code == 503 and answer.json["checks"]["database"] in ("unavailable", "timeout")
        assert answer.json["checks"]["archive_store"] == "ok"
    assert max(seconds, seconds_again) < READYZ_BOUND, (seconds, seconds_again)
    assert alive.status_code == 200 and alive_seconds < 0.5
    assert thawed.status_code == 200, thawed.json


def test_readyz_says_nothing_stands_in_the_way_of_deletion_in_a_plain_store(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json["checks"]["archive_deletion"] == "ok"


def test_readyz_explains_an_object_lock_that_would_block_deletion_without_turning_unready(app_env, moto_s3, s3_env):
    """Serving needs no deletion: the entry informs ops, the load balancer keeps sending traffic."""
    s3_env(moto_s3)
    app = create_app({**app_env, "ARCHIVE_STORE_URL": f"s3://{moto_s3.new_locked_bucket(mode='COMPLIANCE', days=3)}/x"})
    try:
        answer = app.test_client().get("/readyz")
    finally:
        app.extensions["services"].close()
    assert answer.status_code == 200 and answer.json["status"] == "ready"
    assert answer.json["checks"]["archive_store"] == "ok"
    assert answer.json["checks"]["archive_deletion"] == (
        "blocked: the bucket's default object lock retention (COMPLIANCE, 3 days) protects every archive version "
        "for 3 days after it is written: S3 refuses to delete it before then"
    )


@pytest.mark.postgres
def test_a_read_only_postgres_is_not_ready_and_its_callbacks_are_503_not_500(
    app_env, postgres_url, messagebird_signer, messagebird_signature_key
):
    """A server that takes no writes (here ``default_transaction_read_only``; a standby alike) is named in
    ``/readyz``, found by reading, and a callback that cannot be recorded is told to retry."""
    from tests.conftest import CALLBACK_URL
    from tests.support.load import CALLBACK_PATH, DELETE_KIND, callback_json, register_requests

    register_requests(
        postgres_url,
        secret_key=app_env["SECRET_KEY"],
        signature_key=messagebird_signature_key,
        kinds={"ro-1": DELETE_KIND},
    )
    url = make_url(postgres_url)
    read_only = url.update_query_dict({"options": url.query["options"] + " -cdefault_transaction_read_only=on"})
    app = create_app({**app_env, "DATABASE_URL": read_only.render_as_string(hide_password=False)})
    client = app.test_client()
    body = callback_json("ro-1", DELETE_KIND)
    try:
        ready = client.get("/readyz")
        refused = client.post(
            CALLBACK_PATH, data=body, headers=messagebird_signer(CALLBACK_URL, body), content_type="application/json"
        )
    finally:
        app.extensions["services"].close()
    assert ready.status_code == 503 and ready.json["checks"]["database"].startswith("read_only: "), ready.json
    assert refused.status_code == 503, refused.json
