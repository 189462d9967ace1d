"""What a request costs the server: nothing it does not need.

A wrong token and a probe take no write lock (on SQLite, the one writer's turn the
callbacks need); a right token's re-hash is tried at most once a minute; a log field
taken from a request is bounded; the signed-cookie session exists only under ``/ops``;
Flask-Limiter runs only where a limit is.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator

import pytest
from flask import session
from flask.sessions import NullSession

from app import create_app
from receiver.observability.logs import CLIPPED, configure_logging
from receiver.usecases import operators
from storage.models import ApiToken
from tests.receiver.conftest import CALLBACK_PATH
from tests.support.databases import Backend


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: where a write lock is the one writer's turn."""
    return Backend(sqlite_url)


@pytest.fixture
def write_locked(app_env: dict[str, str]) -> Iterator[None]:
    """Another connection holds the database's write lock (``BEGIN IMMEDIATE``) for the test's duration."""
    holder = sqlite3.connect(app_env["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def log_lines(app) -> Iterator:
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield lambda: buffer.getvalue().splitlines()
    configure_logging("json", "INFO")


def test_a_wrong_token_and_the_probes_answer_while_another_writer_holds_the_lock(client, write_locked):
    wrong = {"Authorization": "Bearer gdpr_" + "w" * 43}
    assert client.get("/api/requests", headers=wrong).status_code == 401  # a write would wait, then 503
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"]["database"] == "ok"


def test_a_token_under_an_older_key_is_let_in_without_a_write_and_rehashed_at_most_once_a_minute(
    app_env, services, monkeypatch
):
    now = [1000.0]
    monkeypatch.setattr(operators, "_REHASHES", operators._Throttle(60.0, clock=lambda: now[0]))
    made = operators.create_token(services, "olivia", "viewer", actor="admin")
    old_hash = services.secrets.token_hashes(made.token)[0]
    rotated = create_app({**app_env, "SECRET_KEY": "n" * 40 + "," + app_env["SECRET_KEY"]})
    headers = {"Authorization": f"Bearer {made.token}"}

    def stored_hash() -> str:
        with services.database.transaction() as session_:
            return session_.query(ApiToken).one().token_hash

    rotated_services = rotated.extensions["services"]
    try:
        holder = sqlite3.connect(app_env["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:  # its re-hash cannot be written: the operator is let in all the same
            assert operators.authenticate(rotated_services, made.token) == operators.Operator("olivia", "viewer")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        now[0] += 30
        assert rotated.test_client().get("/api/cases", headers=headers).status_code == 200
        assert stored_hash() == old_hash  # not tried again within the minute
        now[0] += 31
        assert rotated.test_client().get("/api/cases", headers=headers).status_code == 200
        assert stored_hash() == rotated_services.secrets.token_hashes(made.token)[0]
    finally:
        rotated.extensions["services"].close()


def test_a_request_id_from_an_unsigned_body_is_bounded_in_the_log(client, log_lines):
    body = json.dumps({"requestId": "x" * 64_000, "requestKind": "y" * 500, "result": "Processed"}).encode()
    assert client.post(CALLBACK_PATH, data=body, content_type="application/json").status_code == 401
    [line] = [line for line in log_lines() if '"callback.rejected"' in line]
    event = json.loads(line)
    assert len(line) < 1024
    assert event["request_id"].endswith(CLIPPED) and len(event["request_id"]) == 128
    assert event["kind"].endswith(CLIPPED) and len(event["kind"]) == 128


def test_every_text_field_of_a_log_line_is_bounded(app, log_lines):
    from receiver.observability.logs import MAX_FIELD_CHARS, get_logger

    get_logger("test").info("test.long", detail="z" * 100_000, short="kept")
    event = json.loads(log_lines()[-1])
    assert len(event["detail"]) == MAX_FIELD_CHARS and event["detail"].endswith(CLIPPED)
    assert event["short"] == "kept"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/requests", CALLBACK_PATH, "/answer/abc", "/opsx"])
def test_there_is_no_session_outside_the_console(app, path):
    with app.test_request_context(path, headers={"Cookie": "ops_state=forged"}):
        assert isinstance(session, NullSession)


@pytest.mark.parametrize("path", ["/ops", "/ops/sign-in", "/ops/cases/1"])
def test_the_console_has_its_session(app, path):
    with app.test_request_context(path):
        assert not isinstance(session, NullSession)


def test_the_console_still_sets_its_state_cookie_and_nothing_else_does(client):
    assert "ops_state=" in client.get("/ops/sign-in").headers.get("Set-Cookie", "")
    for path in ("/healthz", "/readyz", "/answer/abc"):
        assert "Set-Cookie" not in client.get(path).headers, path


def test_the_limiter_runs_only_before_the_limited_blueprints(app):
    limiter = app.extensions["rate_limiter"]
    check = limiter._check_request_limit
    assert check not in app.before_request_funcs[None]
    assert check not in app.before_request_funcs.get("webhooks", [])  # the webhook counts its refusals itself
    assert app.before_request_funcs["subject"][0] == check
    names = [getattr(hook, "__qualname__", "") for hook in app.before_request_funcs[None]]
    assert not [name for name in names if "csrf" in name.lower() or "Limiter" in name]
