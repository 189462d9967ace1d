"""The subject's side in a real browser (Debian's Chromium, driven by Playwright) against the service on loopback.

The subject opens the link they were given, reads who sends what, downloads the ZIP
(the browser saves the package's exact bytes), and the service records it as the
case's proof of delivery; a link used up shows, in the browser, whom to contact.
``make screenshots`` also writes the page to ``docs/screenshots/answer.png``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.receiver.answers.conftest import CONTACT, CONTROLLER
from tests.receiver.conftest import CALLBACK_PATH
from tests.support.databases import Backend
from tests.support.processes import free_port
from tests.support.simulators import eventually

pytestmark = pytest.mark.slow


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "PUBLIC_URL": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture
def deliver(client, messagebird_signer, services):
    """The callback signed for the URL this service is served on (its ``PUBLIC_URL`` is a loopback port here)."""

    def deliver(body: bytes):
        signed = messagebird_signer(services.settings.public_url + CALLBACK_PATH, body)
        return client.post(CALLBACK_PATH, data=body, headers=signed, content_type="application/json")

    return deliver


def test_the_subject_opens_the_link_downloads_the_answer_and_the_download_is_proven(
    browser_page, live_service, built_package, client, admin_headers, tmp_path
):
    page = browser_page
    case_id, package = built_package("access")
    link = client.post(f"/api/cases/{case_id}/package/links", json={"maxDownloads": 1}, headers=admin_headers).json
    response = page.goto(link["url"])
    assert response.status == 200 and response.headers["referrer-policy"] == "no-referrer"
    assert page.get_by_role("heading", level=1).inner_text() == f"Your answer from {CONTROLLER}"
    assert page.get_by_role("cell", name="messagebird-KIND_PERSONAL_GET-req-a.zip").is_visible()
    assert CONTACT in page.content()
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    page.screenshot(path=str(folder / "answer.png"), full_page=True)
    with page.expect_download() as started:
        page.get_by_role("link", name="Download").click()
    saved = Path(started.value.path())
    assert started.value.suggested_filename.startswith("answer-") and started.value.suggested_filename.endswith(".zip")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == package["sha256"]

    def recorded():
        """The download recorded: the server keeps it after writing the last byte, which the browser may save first."""
        shown = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
        return shown if shown["links"][0]["state"] == "used_up" else None

    shown = eventually(recorded, timeout=10)
    [listed] = shown["links"]
    assert [d["complete"] for d in listed["downloads"]] == [True]
    assert shown["closingProposal"]["deliveredBy"] == "download link"
    again = page.goto(link["url"])
    assert again.status == 410
    assert page.get_by_role("heading", level=1).inner_text() == "This link no longer works"
    assert CONTACT in page.content()
