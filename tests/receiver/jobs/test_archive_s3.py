"""The archive job into S3 (SeaweedFS on loopback): the object, its record, and an outage in the middle."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from urllib.parse import urlsplit

import pytest
import requests as http
from sqlalchemy import select, update

from receiver.jobs.archive import archive_job
from receiver.jobs.worker import Worker
from storage import jobs
from storage.models import Job, ProcessorRequest
from tests.receiver.conftest import callback_body
from tests.support.s3server import S3Endpoint
from tests.support.zips import zip_bytes

ARCHIVE = zip_bytes({"data.bin": random.Random(3).randbytes(300_000), "index.json": b"{}"})

#: The archive job alone: the periodic jobs a worker queues at start (the audit seal) would run beside it.
ARCHIVE_ONLY = {jobs.ARCHIVE: archive_job}


@pytest.fixture
def s3(seaweedfs, tcp_proxy):
    """SeaweedFS behind a proxy the test can cut, and a versioned bucket."""
    proxy = tcp_proxy(urlsplit(seaweedfs.url).port)
    endpoint = S3Endpoint(url=proxy.url)
    return proxy, endpoint, seaweedfs.new_bucket(versioned=True)


@pytest.fixture
def backend(sqlite_url):
    from tests.support.databases import Backend

    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env, s3, https_server, monkeypatch):
    _, endpoint, bucket = s3
    for name, value in endpoint.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_server.ca_bundle))
    host = https_server.url("/").split("/")[2]
    return {
        **app_env,
        "ARCHIVE_STORE_URL": f"s3://{bucket}/evidence",
        "ARCHIVE_ALLOWED_HOSTS": host,
        "ARCHIVE_PRIVATE_HOSTS": host,
    }


def deliver_archive_callback(register, deliver, https_server) -> None:
    """The archive at a URL with a token in its path and a signature in its query, as processors hand them out."""
    url = https_server.route("/tok-SECRET123/archive.zip", ARCHIVE) + "?X-Amz-Signature=SIG-SECRET456"
    register("req-1", "KIND_PERSONAL_GET")
    assert deliver(callback_body("req-1", data=url)).status_code == 200


def record(services) -> ProcessorRequest:
    with services.database.transaction() as session:
        return session.get(ProcessorRequest, "req-1")


def test_the_archive_lands_in_s3_with_its_record(register, deliver, https_server, services, s3, client, admin_headers):
    _, endpoint, bucket = s3
    deliver_archive_callback(register, deliver, https_server)
    assert Worker(services, handlers=ARCHIVE_ONLY).run(once=True) == 1
    request = record(services)
    assert request.state == "completed"
    assert request.archive_uri == f"s3://{bucket}/evidence/messagebird/req-1.zip"
    assert request.archive_sha256 == hashlib.sha256(ARCHIVE).hexdigest()
    assert request.archive_version_id
    stored = endpoint.client().get_object(Bucket=bucket, Key="evidence/messagebird/req-1.zip")
    assert stored["Body"].read() == ARCHIVE
    assert stored["Metadata"] == {"request-id": "req-1", "callback-id": str(request.authorising_callback_id)}
    tags = endpoint.client().get_object_tagging(Bucket=bucket, Key="evidence/messagebird/req-1.zip")["TagSet"]
    assert tags == [{"Key": "sha256", "Value": request.archive_sha256}]
    link = client.get("/api/requests/req-1/archive", headers=admin_headers).json
    assert http.get(link["url"], timeout=10).content == ARCHIVE


def test_an_s3_outage_is_retried_and_leaves_no_upload_behind(register, deliver, https_server, services, s3):
    proxy, endpoint, bucket = s3
    deliver_archive_callback(register, deliver, https_server)
    proxy.down()
    Worker(services, handlers=ARCHIVE_ONLY).run(once=True)
    with services.database.transaction() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "queued" and "archive store unavailable" in job.last_error
        session.execute(update(Job).values(run_after=dt.datetime.now(dt.UTC)))
    assert record(services).state == "archiving"
    proxy.up()
    assert Worker(services, handlers=ARCHIVE_ONLY).run(once=True) == 1
    assert record(services).state == "completed"
    assert endpoint.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    versions = endpoint.client().list_object_versions(Bucket=bucket).get("Versions", [])
    assert len(versions) == 1
