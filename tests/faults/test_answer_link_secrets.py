"""A subject's link is a bearer secret: the real gunicorn and worker processes keep no trace of it, nor of the address.

The service runs as it does in production (gunicorn, ``flask worker``, logs at DEBUG).
A case's archives are stored from signed callbacks, its package built, two links made
(one e-mailed to the subject through a real SMTP server), the page opened and the
package downloaded in two ranges over HTTP. Then the processes' logs, the admin API's
answers and every value of every table are searched for both secrets and the address.
"""

from __future__ import annotations

import hashlib
import socket

import pytest
import requests as http

from tests.conftest import ADMIN_TOKEN
from tests.faults.conftest import address, wait_until
from tests.support.databases import Backend
from tests.support.load import GET_KIND, sign_callbacks
from tests.support.scan import database_dump, occurrences
from tests.support.zips import zip_bytes

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SUBJECT = "jane.doe@example.org"
ARCHIVES = {"req-sa": zip_bytes({"messages.csv": b"id,body\n1,hi\n" * 300}), "req-sb": zip_bytes({"a.json": b"{}"})}


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    return Backend(sqlite_url)


def test_the_link_secret_and_the_subjects_address_leave_no_trace(
    launcher, app_env, signer, https_server, smtp_server, report
):
    loopback = f"127.0.0.1:{https_server.port}"
    env = {
        **app_env,
        "ARCHIVE_ALLOWED_HOSTS": loopback,
        "ARCHIVE_PRIVATE_HOSTS": loopback,
        "REQUESTS_CA_BUNDLE": https_server.ca_bundle,
        "LOG_LEVEL": "DEBUG",
        "WORKER_POLL_SECONDS": "0.2",
        "CONTROLLER_NAME": "Acme Telecom B.V.",
        "CONTROLLER_CONTACT": "privacy@acme.example",
        "SMTP_URL": f"smtp://{smtp_server.address}",
        "SUBJECT_EMAIL_FROM": "answers@acme.example",
        "NOTIFY_PRIVATE_HOSTS": smtp_server.address,
    }
    web = launcher.start_web(env, workers=1)
    worker = launcher.start_worker(env)
    base = web.base_url or ""
    case_id = open_case_with_requests(base, signer.signature_key)
    urls = {rid: https_server.route(f"/{rid}.zip", data) for rid, data in ARCHIVES.items()}
    for delivery in sign_callbacks(signer, dict.fromkeys(ARCHIVES, GET_KIND), data=urls):
        assert status_of(address(web), delivery.raw) == 200
    wait_until(lambda: case_of(base, case_id)["state"] == "ready", timeout=30, what="the archives stored")
    assert http.post(f"{base}/api/cases/{case_id}/package", headers=ADMIN, timeout=10).status_code == 202
    wait_until(lambda: package_of(base, case_id)["state"] == "ready", timeout=30, what="the package built")
    mailed = make_link(base, case_id, {"email": SUBJECT, "language": "nl"})
    plain = make_link(base, case_id, {"maxDownloads": 1})
    wait_until(lambda: smtp_server.messages, timeout=30, what="the e-mail sent")
    secrets = tuple(url.rsplit("/", 1)[1] for url in (mailed["url"], plain["url"]))
    path = "/answer/" + secrets[1]
    assert http.get(base + path, timeout=10).status_code == 200
    first = http.get(base + path + "/download", headers={"Range": "bytes=0-499"}, timeout=10)
    rest = http.get(base + path + "/download", headers={"Range": "bytes=500-"}, timeout=10)
    package = package_of(base, case_id)
    assert (first.status_code, rest.status_code) == (206, 206)
    assert hashlib.sha256(first.content + rest.content).hexdigest() == package["sha256"]
    # the server records a download once it has closed the response, a moment after the client has every byte
    wait_until(lambda: http.get(base + path, timeout=10).status_code == 410, timeout=10, what="the used-up link gone")
    assert secrets[0] in smtp_server.messages[0].message.get_body(("plain",)).get_content()
    wait_until(lambda: "answer.downloaded" in web.log(), timeout=10, what="the download logged")
    logs = web.log() + worker.log()
    answers = [http.get(f"{base}{p}", headers=ADMIN, timeout=10).text for p in (f"/api/cases/{case_id}",)]
    answers.append(str(package))
    dump = database_dump(env["DATABASE_URL"])
    wanted = (*secrets, SUBJECT)
    found = {
        where: occurrences(text, wanted)
        for where, text in (("logs", logs), ("api", "".join(answers)), ("database", dump.text))
    }
    counts = report(
        log_lines=logs.count("\n"),
        db_values=dump.cells,
        secrets_found=sum(n for w in found.values() for n in w.values()),
    )
    assert all(n == 0 for where in found.values() for n in where.values()), f"{counts}: {found}"
    assert "/answer/<secret>/download" in logs and mailed["id"] in logs and "answer_email.sent" in logs, counts
    [link] = [link for link in package_of(base, case_id)["links"] if link["id"] == plain["id"]]
    assert [download["complete"] for download in link["downloads"]] == [False, True], counts


def open_case_with_requests(base: str, signature_key: str) -> str:
    document = {"subjectRef": "TICKET-LEAK", "right": "access", "jurisdiction": "EU", "receivedOn": "2026-12-01"}
    case_id = http.post(f"{base}/api/cases", json=document, headers=ADMIN, timeout=10).json()["id"]
    for request_id in ARCHIVES:
        imported = {"id": request_id, "signatureKey": signature_key, "kind": GET_KIND, "caseId": case_id}
        assert http.post(f"{base}/api/requests/import", json=imported, headers=ADMIN, timeout=10).status_code == 201
    return case_id


def case_of(base: str, case_id: str) -> dict:
    return http.get(f"{base}/api/cases/{case_id}", headers=ADMIN, timeout=10).json()


def package_of(base: str, case_id: str) -> dict:
    return http.get(f"{base}/api/cases/{case_id}/package", headers=ADMIN, timeout=10).json()


def make_link(base: str, case_id: str, document: dict) -> dict:
    made = http.post(f"{base}/api/cases/{case_id}/package/links", json=document, headers=ADMIN, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()


def status_of(where: tuple[str, int], raw: bytes) -> int:
    """Send one raw HTTP request (a signed callback as MessageBird sends it) and read its status code.

    A plain socket rather than the load generator's asyncio: this test may share its process with the
    browser tests, whose Playwright keeps an event loop running."""
    with socket.create_connection(where, timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while b"\r\n" not in answer and (chunk := connection.recv(4096)):
            answer += chunk
    return int(answer.split(b" ", 2)[1])
