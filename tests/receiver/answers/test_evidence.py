"""The proof of delivery in the evidence pack and the console's timeline: the download, never the client's address."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.conftest import PUBLIC_URL
from tests.receiver.web.console.conftest import Console
from tests.support.databases import Backend


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: the storage of packages, links and downloads is proven on PostgreSQL by test_package, test_links and
    test_retention."""
    return Backend(sqlite_url)


SUBJECT_ADDRESS = "203.0.113.9"


def test_the_first_complete_download_is_in_the_pack_and_on_the_timeline(built_package, client, admin_headers):
    case_id, package = built_package("access")
    url = client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).json["url"]
    with client.get(url.removeprefix(PUBLIC_URL) + "/download", environ_base={"REMOTE_ADDR": SUBJECT_ADDRESS}) as got:
        assert got.get_data()
    pack = client.get(f"/api/cases/{case_id}/evidence", headers=admin_headers)
    archive = zipfile.ZipFile(io.BytesIO(pack.data))
    document = json.loads(archive.read("evidence.json"))
    text = json.dumps(document)
    proof = [entry for entry in document["history"] if entry["kind"] == "answer_downloaded"]
    assert [entry["to"] for entry in proof] == [package["sha256"]]
    assert SUBJECT_ADDRESS not in text and SUBJECT_ADDRESS not in archive.read("evidence.html").decode()
    console = Console(client)
    assert console.sign_in().status_code == 303
    page = console.get(f"/ops/cases/{case_id}").text
    assert "the subject downloaded the whole answer" in page and "package built" in page
