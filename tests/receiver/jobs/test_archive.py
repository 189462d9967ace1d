"""The archive job end to end: signed callback -> worker -> HTTPS download -> stored archive -> record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from receiver.jobs.archive import archive_job
from receiver.jobs.worker import Worker
from storage import jobs
from storage.models import Job, ProcessorRequest
from tests.receiver.conftest import callback_body
from tests.support.zips import not_a_zip, self_extracting, zip_bytes

ARCHIVE = zip_bytes({"messages.csv": b"id,body\n1,hello\n" * 500, "profile.json": b'{"plan": "basic"}'})

#: The archive job alone: the periodic jobs a worker queues at start (the audit seal) would run beside it.
ARCHIVE_ONLY = {jobs.ARCHIVE: archive_job}


@pytest.fixture
def app_env(app_env, https_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_server.ca_bundle))
    host = https_server.url("/").split("/")[2]
    return {**app_env, "ARCHIVE_ALLOWED_HOSTS": host, "ARCHIVE_PRIVATE_HOSTS": host, "WORKER_MAX_ATTEMPTS": "3"}


@pytest.fixture
def callback_for(register, deliver, https_server):
    """Register a GET request and deliver its signed callback pointing at ``path`` on the HTTPS server."""

    def callback_for(path: str, body: bytes = ARCHIVE, request_id: str = "req-1", **knobs) -> str:
        url = https_server.route(path, body, **knobs)
        register(request_id, "KIND_PERSONAL_GET")
        assert deliver(callback_body(request_id, data=url)).status_code == 200
        return url

    return callback_for


def run_worker(services) -> int:
    return Worker(services, handlers=ARCHIVE_ONLY).run(once=True)


def record(services, request_id="req-1") -> ProcessorRequest:
    with services.database.transaction() as session:
        return session.get(ProcessorRequest, request_id, options=[selectinload(ProcessorRequest.transitions)])


def make_jobs_due(services) -> None:
    with services.database.transaction() as session:
        session.execute(update(Job).values(run_after=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))


def archive_files(services) -> list[Path]:
    root = Path(services.settings.archive_store_url.removeprefix("file://"))
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_a_verified_archive_is_stored_with_its_chain_of_custody(callback_for, services, client, admin_headers):
    callback_for("/a.zip")
    assert run_worker(services) == 1
    request = record(services)
    assert request.state == "completed"
    assert request.archive_sha256 == hashlib.sha256(ARCHIVE).hexdigest()
    assert request.archive_bytes == len(ARCHIVE)
    [stored] = archive_files(services)
    assert stored.read_bytes() == ARCHIVE and stored.name == "req-1.zip"
    assert [t.to_state for t in request.transitions] == ["sent", "callback_received", "archiving", "completed"]
    assert request.transitions[-1].callback_id == request.authorising_callback_id is not None
    detail = client.get("/api/requests/req-1", headers=admin_headers).json
    assert detail["archive"]["sha256"] == request.archive_sha256
    assert detail["callbacks"][0]["verdict"] == "accepted"
    with client.get("/api/requests/req-1/archive", headers=admin_headers) as download:
        assert (download.status_code, download.data) == (200, ARCHIVE)


@pytest.mark.parametrize(("body", "reason"), [(not_a_zip(), "not a zip"), (self_extracting(ARCHIVE), "not a zip")])
def test_a_file_that_is_not_a_zip_fails_and_is_not_kept(callback_for, services, body, reason):
    callback_for("/bad.zip", body)
    run_worker(services)
    request = record(services)
    assert (request.state, request.state_reason) == ("failed", reason)
    assert archive_files(services) == []


def test_a_server_error_is_retried_then_succeeds(callback_for, services):
    callback_for("/flaky.zip", statuses=[503, 200])
    run_worker(services)
    with services.database.transaction() as session:
        job = session.scalars(select(Job)).one()
        assert (job.state, job.attempts) == ("queued", 1)
        assert "503" in job.last_error
        assert job.run_after > dt.datetime.now(dt.UTC)
    make_jobs_due(services)
    run_worker(services)
    assert record(services).state == "completed"


def test_a_4xx_is_not_retried(callback_for, services):
    callback_for("/gone.zip", statuses=[404])
    run_worker(services)
    request = record(services)
    assert request.state == "failed" and "404" in request.state_reason


def test_retries_stop_after_the_configured_count_then_ops_can_retry(
    callback_for, services, client, admin_headers, https_server
):
    callback_for("/down.zip", statuses=[500, 500, 500, 200])
    for _ in range(3):
        make_jobs_due(services)
        run_worker(services)
    assert record(services).state == "failed"
    response = client.post("/api/requests/req-1/retry", headers=admin_headers)
    assert (response.status_code, response.json["state"]) == (202, "callback_received")
    run_worker(services)
    assert record(services).state == "completed"


def test_retry_refuses_a_request_that_has_not_failed(callback_for, client, admin_headers):
    callback_for("/a.zip")
    assert client.post("/api/requests/req-1/retry", headers=admin_headers).status_code == 409
    assert client.post("/api/requests/none/retry", headers=admin_headers).status_code == 404


def test_a_failure_reason_names_the_host_and_the_class_never_the_path_or_query(callback_for, services, https_server):
    callback_for("/tok-SECRET123/gone.zip", statuses=[404])
    run_worker(services)
    request = record(services)
    origin = f"https://127.0.0.1:{https_server.port}"
    assert (request.state, request.state_reason) == ("failed", f"download failed: http_404 at {origin}")
    with services.database.transaction() as session:
        job = session.scalars(select(Job)).one()
        assert job.last_error == request.state_reason
    assert all("SECRET" not in (t.reason or "") for t in request.transitions)


def test_an_exactly_allowed_host_on_loopback_is_refused_unless_it_is_a_private_host(
    callback_for, services, https_server
):
    services.fetch_policy = dataclasses.replace(services.fetch_policy, private_hosts=())
    callback_for("/a.zip")
    run_worker(services)
    reason = f"download failed: address_not_allowed at https://127.0.0.1:{https_server.port} (loopback)"
    assert (record(services).state, record(services).state_reason) == ("failed", reason)
    assert https_server.connections == 0


def test_a_host_outside_the_allow_list_is_refused_without_a_connection(register, deliver, services, https_server):
    url = https_server.route("/a.zip", ARCHIVE).replace("127.0.0.1", "localhost")
    register("req-1", "KIND_PERSONAL_GET")
    deliver(callback_body("req-1", data=url))
    run_worker(services)
    assert record(services).state == "failed"
    assert https_server.connections == 0


def test_a_redirect_to_a_refused_host_fails(callback_for, services, https_server):
    target = https_server.url("/a.zip?X-Amz-Signature=SIG-SECRET456", host="localhost")
    callback_for("/redirect", b"", statuses=[302], location=target)
    run_worker(services)
    request = record(services)
    reason = f"download failed: redirect_refused at https://localhost:{https_server.port} (host_not_allowed)"
    assert (request.state, request.state_reason) == ("failed", reason)
    assert [path for path, _ in https_server.requests] == ["/redirect"]


def test_an_archive_over_the_limit_fails(callback_for, services):
    services.settings = dataclasses.replace(services.settings, archive_max_bytes=len(ARCHIVE) - 1)
    callback_for("/big.zip")
    run_worker(services)
    assert (record(services).state, record(services).state_reason) == (
        "failed",
        "archive larger than ARCHIVE_MAX_BYTES",
    )
    assert archive_files(services) == []


def test_a_download_past_its_deadline_is_abandoned_and_retried(callback_for, services):
    services.settings = dataclasses.replace(services.settings, archive_download_max_seconds=0.5)
    callback_for("/trickle.zip", zip_bytes({"a": random.Random(5).randbytes(50_000)}), stall_after=10_000, stall=1.0)
    run_worker(services)
    with services.database.transaction() as session:
        job = session.scalars(select(Job)).one()
        assert (job.state, job.last_error) == ("queued", "download took longer than ARCHIVE_DOWNLOAD_MAX_SECONDS")
    assert archive_files(services) == []


def test_two_workers_racing_store_the_archive_once(callback_for, services):
    callback_for("/a.zip", delay=0.3)
    results = []
    start = threading.Barrier(2)

    def work():
        start.wait(timeout=10)
        results.append(Worker(services, handlers=ARCHIVE_ONLY).run(once=True))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [0, 1]
    assert record(services).state == "completed"
    assert len(archive_files(services)) == 1


def test_a_worker_asked_to_stop_releases_its_job_untouched(callback_for, services):
    callback_for("/slow.zip", stall_after=100, stall=1.0)
    worker = Worker(services, handlers=ARCHIVE_ONLY)
    threading.Timer(0.3, worker.stop).start()
    worker.run(once=True)
    with services.database.transaction() as session:
        job = session.scalars(select(Job)).one()
        assert (job.state, job.attempts, job.lease_owner) == ("queued", 0, None)
    assert archive_files(services) == []
    assert run_worker(services) == 1
    assert record(services).state == "completed"
