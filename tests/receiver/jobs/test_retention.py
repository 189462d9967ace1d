"""The periodic retention job: queued when a worker starts, each run queues the next, a stop hands it back;
the worker says at start-up when the archive store would refuse deletions."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from sqlalchemy import select

from receiver.jobs.contract import JobContext, JobInterrupted
from receiver.jobs.retention import retention_job, schedule_retention
from receiver.jobs.worker import Worker
from receiver.observability.logs import configure_logging
from receiver.usecases.retention import run_retention, warn_if_deletion_blocked
from storage import jobs
from storage.clock import Clock
from storage.models import Job, ProcessorRequest
from tests.support.retention import archive_file, stored_request


@pytest.fixture
def app_env(app_env):
    return {**app_env, "RETENTION_INTERVAL_SECONDS": "600", "WORKER_POLL_SECONDS": "0.1"}


def retention_jobs(services) -> list[Job]:
    with services.database.transaction() as session:
        return list(session.scalars(select(Job).where(Job.kind == jobs.RETENTION).order_by(Job.id)))


#: The retention run alone (a worker also queues its other periodic jobs, the audit seal among them).
RETENTION_ONLY = {jobs.RETENTION: retention_job}


def test_a_run_deletes_what_is_due_and_queues_the_next_one_an_interval_later(services):
    request_id = stored_request(services, completed_days_ago=31)
    assert schedule_retention(services)
    assert Worker(services, handlers=RETENTION_ONLY).run(once=True) == 1
    done, following = retention_jobs(services)
    assert done.state == jobs.DONE and following.state == jobs.QUEUED
    assert 595 <= (following.run_after - Clock().now()).total_seconds() <= 600
    assert not archive_file(services, request_id).exists()
    with services.database.transaction() as session:
        assert session.get(ProcessorRequest, request_id).archive_deleted_by == "service"


def test_only_one_run_is_ever_queued(services):
    assert schedule_retention(services)
    assert not schedule_retention(services)
    assert len(retention_jobs(services)) == 1


def test_a_worker_running_on_queues_the_first_run_itself(services):
    worker = Worker(services)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not any(job.state == jobs.DONE for job in retention_jobs(services)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
        thread.join(10)
    assert [job.state for job in retention_jobs(services)] == [jobs.DONE, jobs.QUEUED]


def test_a_worker_run_once_leaves_retention_to_the_continuous_ones(services):
    assert Worker(services, handlers=RETENTION_ONLY).run(once=True) == 0
    assert retention_jobs(services) == []


def test_a_run_the_worker_stops_hands_the_job_back_unfinished(services):
    schedule_retention(services)
    with services.database.transaction() as session:
        claimed = jobs.claim_next(session, owner="w", lease_seconds=30, max_failures=8)
    assert claimed is not None
    context = JobContext(services, claimed, stop_requested=lambda: True, interruptible=None)  # type: ignore[arg-type]
    with pytest.raises(JobInterrupted):
        retention_job(context)


@pytest.fixture
def log_lines():
    buffer = io.StringIO()
    configure_logging("json", "INFO", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    configure_logging("json", "INFO")


class TestObjectLock:
    @pytest.fixture
    def app_env(self, app_env, moto_s3, s3_env):
        s3_env(moto_s3)
        return {**app_env, "ARCHIVE_STORE_URL": f"s3://{moto_s3.new_locked_bucket(days=7)}/evidence"}

    def test_a_default_retention_is_logged_when_the_worker_starts(self, services, log_lines):
        warn_if_deletion_blocked(services)
        [warning] = [line for line in log_lines() if line["event"] == "archive_store.deletion_blocked"]
        assert warning["level"] == "warning" and "(GOVERNANCE, 7 days)" in warning["blocker"]
        assert warning["archive_retention_days"] == 30

    def test_the_retention_run_names_it_beside_the_deletions_it_could_not_make(self, services):
        request_id = stored_request(services, completed_days_ago=31)
        archives = run_retention(services, actor="ops-test").classes[0]
        assert archives.done["failed"] == 1 and archives.done["deleted"] == 0
        assert archives.notes[0].startswith(
            "object lock: the bucket's default object lock retention (GOVERNANCE, 7 days)"
        )
        assert archives.notes[1] == (
            f"not deleted: {request_id}: misconfigured: S3 kept 1 of 1 versions of the archive (refused: AccessDenied)"
        )
        with services.database.transaction() as session:
            request = session.get(ProcessorRequest, request_id)
            assert request.archive_deleted_at is None and request.archive_deletion_started_at is None


def test_a_store_without_object_lock_logs_nothing(services, log_lines):
    warn_if_deletion_blocked(services)
    assert not [line for line in log_lines() if line["event"].startswith("archive_store.")]
