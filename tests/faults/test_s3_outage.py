"""The S3 server (SeaweedFS) stopped in the middle of multipart archive uploads, then started again."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select, update

from storage.db import Database
from storage.models import Job
from tests.faults.audit import archive_problems, archive_records, audit_callbacks
from tests.faults.conftest import address, wait_until
from tests.faults.servers import RestartableSeaweedFS
from tests.support.databases import Backend
from tests.support.load import GET_KIND, fire, register_requests, sign_callbacks
from tests.support.zips import StreamedZip

pytestmark = pytest.mark.slow

MiB = 1 << 20
REQUESTS = 4
PART = 5 * MiB


@pytest.fixture
def backend(sqlite_url) -> Backend:
    return Backend(sqlite_url)


@pytest.fixture
def s3(tmp_path_factory):
    server = RestartableSeaweedFS(tmp_path_factory.mktemp("seaweedfs-outage"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


def archives() -> dict[str, bytes]:
    """Four distinct 12 MiB ZIPs: three 5 MiB parts each."""
    return {f"s3-{i}": b"".join(StreamedZip(12 * MiB, entry_size=4 * MiB, seed=i).chunks()) for i in range(REQUESTS)}


def make_due(database_url: str) -> None:
    """Skip the backoff: make every queued archive job due now (the worker still decides what to run)."""
    database = Database(database_url)
    with database.transaction() as session:
        session.execute(
            update(Job).where(Job.kind == "archive", Job.state == "queued").values(run_after=dt.datetime.now(dt.UTC))
        )
    database.dispose()


def archive_attempts(database_url: str) -> list[int]:
    database = Database(database_url)
    with database.transaction() as session:
        attempts = list(session.scalars(select(Job.attempts).where(Job.kind == "archive")))
    database.dispose()
    return attempts


def test_an_s3_outage_mid_upload_completes_every_job_and_leaves_no_upload_behind(
    launcher, app_env, signer, s3, https_server, report
):
    """Invariant: SeaweedFS stopped while multipart uploads are in flight, then started again:
    every job completes with the archive's SHA-256 (the worker retries ``unavailable`` storage),
    exactly one object per request, and no incomplete multipart upload is left in the bucket."""
    bucket = s3.endpoint.new_bucket()
    bodies = archives()
    urls = {rid: https_server.route(f"/{rid}.zip", body, stall_after=7 * MiB, stall=4) for rid, body in bodies.items()}
    env = {
        **app_env,
        **s3.endpoint.env(),
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_RETRY_MODE": "standard",
        "ARCHIVE_STORE_URL": f"s3://{bucket}/evidence",
        "ARCHIVE_S3_CHUNK_BYTES": str(PART),
        "ARCHIVE_ALLOWED_HOSTS": urls["s3-0"].split("/")[2],
        "ARCHIVE_PRIVATE_HOSTS": urls["s3-0"].split("/")[2],
        "REQUESTS_CA_BUNDLE": https_server.ca_bundle,
        "WORKER_POLL_SECONDS": "0.2",
        "WORKER_LEASE_SECONDS": "5",
    }
    kinds = dict.fromkeys(bodies, GET_KIND)
    register_requests(
        env["DATABASE_URL"], secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    web = launcher.start_web(env, workers=1)
    sent = fire(address(web), sign_callbacks(signer, kinds, data=urls), concurrency=4)
    launcher.start_worker(env), launcher.start_worker(env)
    client = s3.endpoint.client()

    in_flight = wait_until(
        lambda: len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) >= 2,
        timeout=30,
        what="two multipart uploads in flight",
    )
    s3.stop()
    for rid, body in bodies.items():
        https_server.route(f"/{rid}.zip", body)
    s3.start()

    def all_done() -> bool:
        make_due(env["DATABASE_URL"])
        return all(r.state in ("completed", "failed") for r in archive_records(env["DATABASE_URL"], bodies).values())

    wait_until(all_done, timeout=90, interval=0.5, what="every archive job finished")
    records = archive_records(env["DATABASE_URL"], bodies)
    leftovers = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="evidence/").get("Contents", [])]
    audit = audit_callbacks(env["DATABASE_URL"], sent)
    audit.archives = len(objects)
    counts = report(
        **audit.counts(),
        uploads_in_flight_at_stop=bool(in_flight),
        attempts=archive_attempts(env["DATABASE_URL"]),
        incomplete_uploads_left=len(leftovers),
    )
    expected = {rid: hashlib.sha256(body).hexdigest() for rid, body in bodies.items()}
    assert not audit.problems and audit.accepted == REQUESTS, counts
    assert not archive_problems(records, expected), f"{counts}: {archive_problems(records, expected)}"
    assert {r.state for r in records.values()} == {"completed"}, counts
    assert sorted(objects) == sorted(f"evidence/messagebird/{rid}.zip" for rid in bodies), counts
    assert leftovers == [], f"incomplete multipart uploads left behind: {counts}"
