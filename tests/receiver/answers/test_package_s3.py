"""The package built into S3 (SeaweedFS on loopback) and handed out from there, resumed with Range."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from tests.conftest import PUBLIC_URL
from tests.receiver.answers.conftest import ARCHIVES

pytestmark = pytest.mark.slow


@pytest.fixture
def backend(sqlite_url):
    from tests.support.databases import Backend

    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env, seaweedfs, monkeypatch):
    bucket = seaweedfs.new_bucket(versioned=True)
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return {**app_env, "ARCHIVE_STORE_URL": f"s3://{bucket}/evidence", "ARCHIVE_S3_CHECKSUM_WHEN_REQUIRED": "true"}


def test_the_package_streams_into_s3_and_a_resumed_download_reads_it_back(
    built_package, client, admin_headers, services, seaweedfs
):
    case_id, package = built_package("access")
    assert package["state"] == "ready"
    bucket, key = package_location(services, case_id)
    s3 = seaweedfs.client()
    stored = s3.get_object(Bucket=bucket, Key=key)
    data = stored["Body"].read()
    assert key == f"evidence/packages/{case_id}/{package['id']}.zip"
    assert hashlib.sha256(data).hexdigest() == package["sha256"] and stored["Metadata"]["case-id"] == case_id
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read("messagebird-KIND_PERSONAL_GET-req-b.zip") == ARCHIVES["req-b"]
    path = client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).json["url"]
    path = path.removeprefix(PUBLIC_URL) + "/download"
    with client.get(path, headers={"Range": "bytes=0-99"}) as first:
        head = first.get_data()
    with client.get(path, headers={"Range": "bytes=100-"}) as rest:
        tail = rest.get_data()
    assert (first.status_code, rest.status_code) == (206, 206) and head + tail == data
    [link] = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json["links"]
    assert [download["complete"] for download in link["downloads"]] == [False, True]


def package_location(services, case_id: str) -> tuple[str, str]:
    from storage import answers

    with services.database.transaction() as session:
        uri = answers.current_package(session, case_id).uri
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bucket, key
