"""The service as it runs in production: gunicorn web processes and worker processes, real signals."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from storage.db import Database
from storage.models import Job, ProcessorRequest
from tests.conftest import ADMIN_TOKEN, CALLBACK_URL
from tests.receiver.conftest import CALLBACK_PATH, callback_body
from tests.support.zips import zip_bytes

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ARCHIVE = zip_bytes({"data.bin": random.Random(7).randbytes(200_000)})


def import_request(base_url: str, signature_key: str, request_id: str = "req-1", kind: str = "KIND_PERSONAL_GET"):
    document = {"id": request_id, "signatureKey": signature_key, "kind": kind}
    response = requests.post(f"{base_url}/api/requests/import", json=document, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text


def post_callback(base_url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{base_url}{CALLBACK_PATH}", data=body, timeout=10, headers={**headers, "Content-Type": "application/json"}
    )


def wait_for_state(database_url: str, state: str, request_id: str = "req-1", timeout: float = 40) -> ProcessorRequest:
    database = Database(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with database.transaction() as session:
                request = session.get(ProcessorRequest, request_id)
                if request is not None and request.state == state:
                    return request
            time.sleep(0.2)
        raise AssertionError(f"request did not reach {state} within {timeout} s")
    finally:
        database.dispose()


def test_the_same_callback_sent_to_two_servers_at_once_is_accepted_once(
    launcher, app_env, messagebird_signer, messagebird_signature_key
):
    first, second = launcher.start_web(app_env), launcher.start_web(app_env)
    import_request(first.base_url, messagebird_signature_key, kind="KIND_USER_DELETE")
    body = callback_body("req-1", "KIND_USER_DELETE")
    headers = messagebird_signer(CALLBACK_URL, body)
    start, statuses = threading.Barrier(8), []

    def send(base_url: str) -> None:
        start.wait(timeout=10)
        response = post_callback(base_url, body, headers)
        statuses.append((response.status_code, response.json().get("status")))

    threads = [threading.Thread(target=send, args=(server.base_url,)) for server in (first, second) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    answers = sorted(statuses)
    assert answers == [(200, "accepted")] + [(200, "duplicate")] * 7  # the same bytes again: a resend


def test_an_undeclared_oversize_body_is_refused_with_413(launcher, app_env):
    server = launcher.start_web(app_env, workers=1)
    host, port = server.base_url.removeprefix("http://").split(":")
    chunk = b"x" * 70000
    request = (
        (
            f"POST {CALLBACK_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        + f"{len(chunk):x}\r\n".encode()
        + chunk
        + b"\r\n0\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_gunicorn_and_the_app_log_json_lines_only(launcher, app_env):
    server = launcher.start_web(app_env, workers=1)
    requests.get(f"{server.base_url}/healthz", timeout=5)
    server.stop()
    lines = [line for line in server.log().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert any(event["logger"].startswith("gunicorn") for event in events)
    assert any(event["event"] == "http.request" for event in events)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the store speaks, whatever the database
def test_web_and_worker_processes_say_at_start_up_that_an_object_lock_blocks_deletion(launcher, app_env, moto_s3):
    bucket = moto_s3.new_locked_bucket(mode="COMPLIANCE", days=5)
    env = {**app_env, **moto_s3.env(), "ARCHIVE_STORE_URL": f"s3://{bucket}/evidence"}
    processes = [launcher.start_web(env, workers=1), launcher.start_worker(env)]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all("archive_store.deletion_blocked" in p.log() for p in processes):
        time.sleep(0.2)
    for process in processes:
        [warning] = [
            json.loads(line) for line in process.log().splitlines() if "archive_store.deletion_blocked" in line
        ]
        assert warning["level"] == "warning" and "(COMPLIANCE, 5 days)" in warning["blocker"]


@pytest.fixture
def worker_env(app_env, https_server):
    host = https_server.url("/").split("/")[2]
    return {
        **app_env,
        "ARCHIVE_ALLOWED_HOSTS": host,
        "ARCHIVE_PRIVATE_HOSTS": host,
        "WORKER_LEASE_SECONDS": "5",
        "WORKER_POLL_SECONDS": "0.2",
        "REQUESTS_CA_BUNDLE": str(https_server.ca_bundle),
    }


@pytest.fixture
def downloading_worker(launcher, worker_env, https_server, messagebird_signer, messagebird_signature_key):
    """A worker process stuck in the middle of a download that the archive server stalls."""
    url = https_server.route("/slow.zip", ARCHIVE, stall_after=2000, stall=60)
    web = launcher.start_web(worker_env, workers=1)
    import_request(web.base_url, messagebird_signature_key)
    body = callback_body("req-1", data=url)
    assert post_callback(web.base_url, body, messagebird_signer(CALLBACK_URL, body)).status_code == 200
    worker = launcher.start_worker(worker_env)
    wait_for_state(worker_env["DATABASE_URL"], "archiving")
    return worker


def only_job(database_url: str) -> Job:
    """The one archive job (a worker running on queues its periodic jobs, retention and the audit seal, beside it)."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return session.scalars(select(Job).where(Job.kind == "archive")).one()
    finally:
        database.dispose()


def test_a_worker_killed_mid_download_loses_nothing(launcher, worker_env, https_server, downloading_worker):
    doomed = downloading_worker
    time.sleep(0.5)
    doomed.kill()
    doomed.process.wait(timeout=10)
    https_server.route("/slow.zip", ARCHIVE)
    launcher.start_worker(worker_env)
    request = wait_for_state(worker_env["DATABASE_URL"], "completed")
    assert request.archive_sha256 == hashlib.sha256(ARCHIVE).hexdigest()
    stored = sorted(p for p in Path(worker_env["ARCHIVE_STORE_URL"].removeprefix("file://")).rglob("*") if p.is_file())
    assert [p.name for p in stored] == ["req-1.zip"]
    job = only_job(worker_env["DATABASE_URL"])
    assert (job.state, job.attempts) == ("done", 2)


def test_sigterm_stops_a_worker_that_then_releases_its_job(worker_env, downloading_worker):
    started = time.monotonic()
    assert downloading_worker.stop(timeout=30) == 0
    assert time.monotonic() - started < 30
    job = only_job(worker_env["DATABASE_URL"])
    assert (job.state, job.lease_owner) == ("queued", None)
