"""A processor request's page: transitions with their actors, callbacks with both verdicts, the archive, retry.

A deleted archive shows its deletion receipt and is no longer offered for download.

Retry and download go through the API's use cases: each is recorded in the
signed-in operator's name, and a role that may not is offered neither and refused.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from receiver.usecases.retention import run_retention
from storage import jobs, lifecycle, registry
from storage import retention as kept
from storage.archives.base import DeletedArchive, DeletedVersion
from storage.clock import Clock
from storage.models import Job, ProcessorRequest
from tests.receiver.conftest import callback_body
from tests.support import zips
from tests.support.retention import stored_request

ARCHIVE = b"PK\x05\x06" + b"\x00" * 18


def failed_download(services, request_id: str) -> None:
    """The request's callback came and its archive download failed, as the worker leaves it."""
    with services.database.transaction() as session:
        request = registry.find(session, request_id)
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED)
        jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request_id)
        session.flush()
        session.query(Job).filter_by(request_id=request_id).one().state = jobs.FAILED
        lifecycle.move(request, lifecycle.FAILED, reason="download failed: http_500 at https://files.example.com")


def stored_archive(services, request_id: str) -> None:
    """The archive stored in the file store, as the worker leaves it."""
    root = Path(services.settings.archive_store_url.removeprefix("file://"))
    (root / f"{request_id}.zip").write_bytes(ARCHIVE)
    with services.database.transaction() as session:
        request = session.get(ProcessorRequest, request_id)
        request.archive_uri = f"file://{root / f'{request_id}.zip'}"
        request.archive_bytes, request.archive_sha256 = len(ARCHIVE), hashlib.sha256(ARCHIVE).hexdigest()
        lifecycle.move(request, lifecycle.COMPLETED)


def test_the_page_shows_every_callback_with_both_verdicts(signed_in, register, deliver):
    register("req-1")
    assert deliver(callback_body("req-1", data="https://files.example.com/a.zip")).status_code == 200
    assert deliver(callback_body("req-1"), wrong_key=True, schemes=("hmac",)).status_code == 401
    page = signed_in.get("/ops/requests/req-1").text
    assert page.count('<tr id="callback-') == 1  # a refused delivery attaches nothing to a request
    assert re.search(
        r'<span class="verdict passed">passed</span>.*<span class="verdict passed">passed</span>', page, re.S
    )
    assert "authorising" in page
    assert re.search(r"callback received</span></th>\s*<td>service</td>", page)


def test_an_unknown_request_is_a_404_page(signed_in):
    answer = signed_in.get("/ops/requests/nothing-here")
    assert answer.status_code == 404 and "no request with this id" in answer.text


def test_a_retry_is_a_transition_in_the_operators_name(signed_in, register, services):
    register("req-2")
    failed_download(services, "req-2")
    page = signed_in.get("/ops/requests/req-2").text
    assert "Retry the archive download" in page and "download failed: http_500 at https://files.example.com" in page
    answer = signed_in.post("/ops/requests/req-2/retry", page="/ops/requests/req-2")
    assert answer.status_code == 303
    with services.database.transaction() as session:
        last = registry.get(session, "req-2").transitions[-1]
        assert (last.to_state, last.actor) == (lifecycle.CALLBACK_RECEIVED, "admin")
    assert "The archive download is queued again." in signed_in.get("/ops/requests/req-2").text


def test_a_retry_of_a_request_that_has_not_failed_is_refused_on_the_page(signed_in, register):
    register("req-3")
    answer = signed_in.post("/ops/requests/req-3/retry", page="/ops/requests/req-3")
    assert answer.status_code == 409 and "only a failed request can be retried; this one is sent" in answer.text


def test_the_archive_shows_its_size_and_sha256_and_downloads_as_an_audited_event(signed_in, register, services):
    register("req-4")
    stored_archive(services, "req-4")
    page = signed_in.get("/ops/requests/req-4").text
    assert hashlib.sha256(ARCHIVE).hexdigest() in page and "22 bytes" in page
    with signed_in.post("/ops/requests/req-4/archive", page="/ops/requests/req-4") as answer:
        assert answer.status_code == 200 and answer.mimetype == "application/zip"
        assert answer.get_data() == ARCHIVE
    events = signed_in.get("/ops/requests/req-4").text
    assert re.search(r'<th scope="row">admin</th><td>archive downloaded</td><td>archive handed out as the file', events)


def test_no_archive_to_download_is_said_on_the_page(signed_in, register):
    register("req-5")
    answer = signed_in.post("/ops/requests/req-5/archive", page="/ops/requests/req-5")
    assert answer.status_code == 404 and "No archive is stored for this request" in answer.text


@pytest.mark.parametrize(("role", "may_download"), [("viewer", False), ("auditor", True)])
def test_roles_see_only_what_they_may_do(signed_in_as, register, services, role, may_download):
    register("req-6")
    stored_archive(services, "req-6")
    register("req-7")
    failed_download(services, "req-7")
    browser = signed_in_as(f"{role}-1", role)
    assert ("Download the archive" in browser.get("/ops/requests/req-6").text) is may_download
    assert "Retry the archive download" not in browser.get("/ops/requests/req-7").text
    assert browser.post("/ops/requests/req-7/retry", page="/ops/").status_code == 403
    with browser.post("/ops/requests/req-6/archive", page="/ops/") as answer:
        assert answer.status_code == (200 if may_download else 403)
    with services.database.transaction() as session:
        assert registry.get(session, "req-7").state == lifecycle.FAILED
        downloads = [e.actor for e in registry.get(session, "req-6").events]
    assert downloads == ([f"{role}-1"] if may_download else [])


def facts(section: str) -> dict[str, str]:
    """A facts list as {label: text}, tags stripped."""
    found = re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", section, re.S)
    return {label: re.sub(r"<[^>]+>", "", text).strip() for label, text in found}


def receipt_section(page_text: str) -> str:
    return page_text.split('<h3 id="receipt-heading">', 1)[1].split("</section>", 1)[0]


def test_a_deleted_archive_shows_its_receipt_and_the_erased_secrets_and_is_not_offered(signed_in, services):
    archive = zips.zip_bytes({"data.json": b'{"a": 1}'})
    request_id = stored_request(services, completed_days_ago=31, archive=archive)
    run_retention(services, actor="retention")
    shown = services_request(services, request_id)

    page = signed_in.get(f"/ops/requests/{request_id}").text

    receipt = facts(receipt_section(page))
    assert receipt["Deleted at"].endswith(" UTC") and receipt["Deleted by"] == "retention"
    assert receipt["Policy"].startswith("ARCHIVE_RETENTION_DAYS=30: request completed ")
    assert receipt["Object"] == shown.archive_uri
    assert receipt["Version ids deleted"] == "none: the store keeps no versions"
    assert receipt["Bytes"] == f"{len(archive)} bytes" and receipt["SHA-256"] == hashlib.sha256(archive).hexdigest()
    assert re.search(r"<dt>Secrets erased</dt><dd>\d{4}-\d\d-\d\d [\d:]+ UTC</dd>", page)
    assert "Download the archive" not in page and 'archive-heading">Archive <span class="state neutral">deleted' in page
    refused = signed_in.post(f"/ops/requests/{request_id}/archive", page=f"/ops/requests/{request_id}")
    assert refused.status_code == 404 and "deleted under the retention policy" in refused.text


def test_the_receipt_lists_each_version_the_store_removed(signed_in, services):
    request_id = stored_request(services, completed_days_ago=31)
    deleted = DeletedArchive(
        "s3://archives/messagebird/x.zip",
        (DeletedVersion("v-2", 1_536), DeletedVersion("v-1", 1_024), DeletedVersion("v-0", None, delete_marker=True)),
    )
    with services.database.transaction() as session:
        kept.record_deletion(session, request_id, deleted, actor="olivia", policy="by hand", at=Clock().now())

    section = receipt_section(signed_in.get(f"/ops/requests/{request_id}").text)

    assert facts(section)["Version ids deleted"] == "v-2, v-1, v-0" and facts(section)["Deleted by"] == "olivia"
    rows = re.findall(
        r'<th scope="row"><code>([^<]+)</code></th><td class="num">([^<]*)</td>\s*<td>([^<]+)</td>', section
    )
    assert rows == [("v-2", "1,536", "the object"), ("v-1", "1,024", "the object"), ("v-0", "", "a delete marker")]


def test_a_kept_archive_has_no_receipt(signed_in, services):
    request_id = stored_request(services, completed_days_ago=1)
    page = signed_in.get(f"/ops/requests/{request_id}").text
    assert "Deletion receipt" not in page and "Secrets erased" not in page and "Download the archive" in page


def services_request(services, request_id: str) -> ProcessorRequest:
    with services.database.transaction() as session:
        return session.get(ProcessorRequest, request_id)
