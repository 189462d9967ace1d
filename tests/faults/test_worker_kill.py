"""The archive worker killed with ``kill -9`` again and again in the middle of downloads."""

from __future__ import annotations

import functools
import hashlib
import random
import time

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Job, ProcessorRequest
from tests.faults.audit import archive_problems, archive_records, audit_callbacks
from tests.faults.conftest import address, wait_until
from tests.support.databases import Backend
from tests.support.load import GET_KIND, fire, register_requests, sign_callbacks
from tests.support.zips import StreamedZip

pytestmark = pytest.mark.slow

MiB = 1 << 20
REQUESTS = 5
KILLS = 4


@pytest.fixture
def backend(sqlite_url) -> Backend:
    return Backend(sqlite_url)


def downloading(database_url: str, pid: int) -> str | None:
    """The request the worker with ``pid`` is downloading (its job leased to it, the request ``archiving``)."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return session.scalars(
                select(ProcessorRequest.id)
                .join(Job, Job.request_id == ProcessorRequest.id)
                .where(
                    Job.kind == "archive",
                    Job.state == "running",
                    ProcessorRequest.state == "archiving",
                    Job.lease_owner.like(f"%:{pid}:%"),
                )
            ).first()
    finally:
        database.dispose()


def job_attempts(database_url: str) -> dict[str, int]:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return dict(session.execute(select(Job.request_id, Job.attempts).where(Job.kind == "archive")).all())
    finally:
        database.dispose()


def test_a_worker_killed_repeatedly_mid_download_still_stores_each_archive_once(
    launcher, app_env, signer, seaweedfs, https_server, report
):
    """Invariant: a worker killed with ``kill -9`` during downloads, restarted each time, loses no
    job: its lease runs out and the next worker takes the job over; every request ends ``completed``
    with its archive's SHA-256, exactly one object per request, and no multipart upload left over."""
    bucket = seaweedfs.new_bucket()
    bodies = {
        f"wk-{i}": b"".join(StreamedZip(8 * MiB, entry_size=4 * MiB, seed=10 + i).chunks()) for i in range(REQUESTS)
    }
    urls = {
        rid: https_server.route(f"/{rid}.zip", body, stall_after=6 * MiB, stall=1.5) for rid, body in bodies.items()
    }
    env = {
        **app_env,
        **seaweedfs.env(),
        "ARCHIVE_STORE_URL": f"s3://{bucket}/evidence",
        "ARCHIVE_S3_CHUNK_BYTES": str(5 * MiB),
        "ARCHIVE_ALLOWED_HOSTS": urls["wk-0"].split("/")[2],
        "ARCHIVE_PRIVATE_HOSTS": urls["wk-0"].split("/")[2],
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
    pause = random.Random(4)

    killed_during, workers = [], []
    for _ in range(KILLS):
        worker = launcher.start_worker(env)
        workers.append(worker)
        killed_during.append(
            wait_until(
                functools.partial(downloading, env["DATABASE_URL"], worker.pid),
                timeout=30,
                what="a download in progress",
            )
        )
        time.sleep(pause.uniform(0.2, 1.2))
        worker.kill()
        worker.process.wait(timeout=10)
    workers.append(launcher.start_worker(env))

    def done() -> bool:
        return all(r.state in ("completed", "failed") for r in archive_records(env["DATABASE_URL"], bodies).values())

    wait_until(done, timeout=90, interval=0.5, what="every archive job finished")
    records = archive_records(env["DATABASE_URL"], bodies)
    client = seaweedfs.client()
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="evidence/").get("Contents", [])]
    leftovers = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    audit = audit_callbacks(env["DATABASE_URL"], sent)
    audit.archives = len(objects)
    expected = {rid: hashlib.sha256(body).hexdigest() for rid, body in bodies.items()}
    counts = report(
        **audit.counts(),
        kills=KILLS,
        killed_during=killed_during,
        attempts=job_attempts(env["DATABASE_URL"]),
        incomplete_uploads_left=len(leftovers),
        left_uploads_aborted_by_retries=sum(w.log().count("archive.upload_aborted") for w in workers),
    )
    assert not audit.problems and audit.accepted == REQUESTS, counts
    assert not archive_problems(records, expected), f"{counts}: {archive_problems(records, expected)}"
    assert {r.state for r in records.values()} == {"completed"}, counts
    assert all(r.job_states == ("done",) for r in records.values()), f"one job per request: {counts}"
    assert sorted(objects) == sorted(f"evidence/messagebird/{rid}.zip" for rid in bodies), counts
    assert leftovers == [], counts
