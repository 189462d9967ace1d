"""The answer in the console: build the package, see its files, make a link shown once, revoke it, see downloads."""

from __future__ import annotations

import re

import pytest

from receiver.usecases import operators
from tests.conftest import PUBLIC_URL
from tests.receiver.answers.conftest import run_worker
from tests.receiver.web.console.conftest import Console
from tests.support.databases import Backend


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: the storage of packages, links and downloads is proven on PostgreSQL by test_package, test_links and
    test_retention."""
    return Backend(sqlite_url)


@pytest.fixture
def signed_in(client) -> Console:
    console = Console(client)
    assert console.sign_in().status_code == 303
    return console


def test_an_operator_builds_the_package_makes_a_link_and_revokes_it(signed_in, archived_case, services, backend):
    case_id = archived_case("access")
    page_path = f"/ops/cases/{case_id}"
    assert "No package yet." in signed_in.get(page_path).text
    built = signed_in.post(f"{page_path}/package", page=page_path)
    assert built.status_code == 303 and "being built" in signed_in.get(page_path).text
    run_worker(services)
    page = signed_in.get(page_path).text
    assert "messagebird-KIND_PERSONAL_GET-req-a.zip" in page and "Make a link for the subject" in page
    made = signed_in.post(
        f"{page_path}/package/links",
        {"link-max_downloads": "2", "link-expires_in_days": "7", "link-language": "nl"},
        page=page_path,
    )
    assert made.status_code == 201
    [url] = re.findall(r'value="(' + re.escape(PUBLIC_URL) + r'/answer/[^"]+)"', made.text)
    assert "Copy the link" in made.text and "script-src 'self'" in made.headers["Content-Security-Policy"]
    assert url not in signed_in.get(page_path).text  # shown once
    assert "script-src" not in signed_in.get(page_path).headers["Content-Security-Policy"]
    with signed_in.client.get(url.removeprefix(PUBLIC_URL) + "/download") as download:
        assert download.status_code == 200 and download.get_data()
    page = signed_in.get(page_path).text
    assert "1 of 2 complete" in page and "it counts as given on" in page and 'value="download link"' in page
    [link_id] = re.findall(r"<code>(lnk-[0-9a-f]+)</code>", page)
    revoked = signed_in.post(f"{page_path}/package/links/{link_id}/revoke", page=page_path)
    assert revoked.status_code == 303 and f"Link {link_id} revoked" in signed_in.get(page_path).text
    assert signed_in.client.get(url.removeprefix(PUBLIC_URL)).status_code == 410


def test_a_link_form_out_of_range_shows_the_refusal_and_a_viewer_is_offered_no_action(
    signed_in, built_package, client, services
):
    case_id, _ = built_package("access")
    page_path = f"/ops/cases/{case_id}"
    refused = signed_in.post(f"{page_path}/package/links", {"link-max_downloads": "50"}, page=page_path)
    assert refused.status_code == 400 and "/answer/" not in refused.text
    viewer = Console(client)
    token = operators.create_token(services, "vera", "viewer", actor="admin").token
    viewer.client.get("/ops/sign-out")
    assert viewer.sign_in(token).status_code == 303
    page = viewer.get(page_path).text
    assert "messagebird-KIND_PERSONAL_GET-req-b.zip" in page and "Make a link for the subject" not in page
    assert "Build the package" not in page
