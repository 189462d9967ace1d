"""A case answered through the service's own paths: archives stored from signed callbacks, then the package."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from receiver.jobs.worker import Worker, default_handlers
from receiver.observability.logs import configure_logging
from storage import jobs
from tests.receiver.conftest import callback_body
from tests.support.zips import zip_bytes

CONTROLLER = "Acme Telecom B.V."
CONTACT = "privacy@acme.example"
ARCHIVES = {
    "req-a": zip_bytes({"messages.csv": b"id,body\n1,hello\n" * 400, "profile.json": b'{"plan": "basic"}'}),
    "req-b": zip_bytes({"contacts.csv": b"name,number\nJane,+31600000000\n" * 50}),
}
#: The worker's jobs these tests run: every handler but the periodic ones a worker queues at start.
HANDLERS = {
    kind: handler
    for kind, handler in default_handlers().items()
    if kind not in ("reconcile", "deadline_check", "audit_seal", jobs.RETENTION)
}


@pytest.fixture
def app_env(app_env, https_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_server.ca_bundle))
    host = https_server.url("/").split("/")[2]
    return {
        **app_env,
        "ARCHIVE_ALLOWED_HOSTS": host,
        "ARCHIVE_PRIVATE_HOSTS": host,
        "CONTROLLER_NAME": CONTROLLER,
        "CONTROLLER_CONTACT": CONTACT,
        "WORKER_MAX_ATTEMPTS": "2",
    }


def run_worker(services) -> int:
    return Worker(services, handlers=HANDLERS).run(once=True)


@pytest.fixture
def open_case(client, admin_headers) -> Callable[..., str]:
    def open_case(right: str = "access") -> str:
        document = {"subjectRef": "TICKET-21", "right": right, "jurisdiction": "EU", "receivedOn": "2026-12-01"}
        response = client.post("/api/cases", json=document, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json["id"]

    return open_case


@pytest.fixture
def archived_case(open_case, register, deliver, https_server, services) -> Callable[..., str]:
    """A case whose requests were verified and whose archives the worker stored (GET kinds)."""

    def archived_case(right: str = "access") -> str:
        case_id = open_case(right)
        for request_id, archive in ARCHIVES.items():
            url = https_server.route(f"/{request_id}.zip", archive)
            register(request_id, "KIND_PERSONAL_GET", caseId=case_id)
            assert deliver(callback_body(request_id, data=url)).status_code == 200
        run_worker(services)
        return case_id

    return archived_case


@pytest.fixture
def built_package(archived_case, client, admin_headers, services) -> Callable[..., tuple[str, dict[str, Any]]]:
    """``(case id, package)``: the package asked for through the API and built by the worker."""

    def built_package(right: str = "access") -> tuple[str, dict[str, Any]]:
        case_id = archived_case(right)
        asked = client.post(f"/api/cases/{case_id}/package", headers=admin_headers)
        assert asked.status_code == 202, asked.json
        run_worker(services)
        package = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
        assert package["state"] == "ready", package
        return case_id, package

    return built_package


def stored_zip(services, case_id: str) -> zipfile.ZipFile:
    from storage import answers

    with services.database.transaction() as session:
        uri = answers.current_package(session, case_id).uri
    with services.archive_store.open(uri) as source:
        return zipfile.ZipFile(io.BytesIO(source.read()))


@pytest.fixture
def log_text(app) -> Iterator[Callable[[], str]]:
    """Every log line of the test at DEBUG, as text."""
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield buffer.getvalue
    configure_logging("json", "INFO")
