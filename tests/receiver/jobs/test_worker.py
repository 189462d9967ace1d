"""The worker loop never dies of a job: any exception fails its job, a job that ends its
worker is failed as poison, and a database lost while recording leaves the job to its lease."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time

import pytest
from sqlalchemy import update

from receiver.jobs.contract import JobContext, JobFailure, JobInterrupted
from receiver.jobs.worker import Worker
from receiver.observability.logs import configure_logging
from storage import jobs
from storage.clock import Clock
from storage.errors import StorageError
from storage.models import Job, ProcessorRequest

SECRET_URL = "https://files.example.test/tok-SECRET123/archive.zip?X-Amz-Signature=sig-SECRET456"
SECRETS = ("tok-SECRET123", "sig-SECRET456")


@pytest.fixture
def app_env(app_env):
    return {**app_env, "WORKER_MAX_ATTEMPTS": "3", "WORKER_LEASE_SECONDS": "30"}


@pytest.fixture
def log_lines(app):
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    configure_logging("json", "INFO")


@pytest.fixture
def request_id(register) -> str:
    return register("req-1", "KIND_PERSONAL_GET")["id"]


def explode(context: JobContext) -> None:
    raise RuntimeError(f"could not parse {SECRET_URL}")


def refuse(context: JobContext) -> None:
    raise JobFailure("refused for good", retryable=False)


def hand_back(context: JobContext) -> None:
    raise JobInterrupted("worker stopping")


def finish(context: JobContext) -> None:
    with context.services.database.transaction() as session:
        jobs.finish(session, context.job)


HANDLERS = {"explode": explode, "refuse": refuse, "hand_back": hand_back, "finish": finish}


def run_worker(services, **handlers) -> int:
    return Worker(services, handlers=handlers or HANDLERS).run(once=True)


def enqueue(services, kind: str, request_id: str | None = None) -> int:
    with services.database.transaction() as session:
        return jobs.enqueue(session, kind=kind, request_id=request_id).id


def job_row(services, job_id: int) -> Job:
    with services.database.transaction() as session:
        return session.get(Job, job_id)


def request_row(services, request_id: str) -> ProcessorRequest:
    with services.database.transaction() as session:
        return session.get(ProcessorRequest, request_id)


def make_due(services) -> None:
    with services.database.transaction() as session:
        session.execute(
            update(Job).where(Job.state == "queued").values(run_after=Clock().now() - dt.timedelta(seconds=1))
        )


def expire_leases(services) -> None:
    with services.database.transaction() as session:
        session.execute(
            update(Job).where(Job.state == "running").values(lease_expires_at=Clock().now() - dt.timedelta(seconds=1))
        )


def events(log_lines, name: str) -> list[dict]:
    return [line for line in log_lines() if line.get("event") == name]


def test_an_unexpected_exception_fails_its_job_and_the_worker_goes_on(services, request_id, log_lines):
    exploding, finishing = enqueue(services, "explode", request_id), enqueue(services, "finish")
    assert run_worker(services) == 2
    job = job_row(services, exploding)
    assert (job.state, job.attempts, job.failures) == ("queued", 1, 1)
    assert job.run_after > Clock().now(), "retried after a backoff"
    assert job.last_error.startswith(
        "unexpected RuntimeError in the explode job at tests.receiver.jobs.test_worker:explode:"
    )
    assert job_row(services, finishing).state == "done"
    [crashed] = events(log_lines, "job.crashed")
    assert crashed["error_type"] == "RuntimeError" and crashed["job_id"] == exploding
    assert crashed["stack"][-1].startswith("tests.receiver.jobs.test_worker:explode:")
    assert len(events(log_lines, "job.retrying")) == 1


def test_an_unexpected_exception_is_retried_within_the_limit_then_fails_the_job_and_its_request(
    services, request_id, log_lines
):
    exploding = enqueue(services, "explode", request_id)
    for _ in range(3):
        make_due(services)
        assert run_worker(services) == 1
    job = job_row(services, exploding)
    assert (job.state, job.attempts, job.failures) == ("failed", 3, 3)
    request = request_row(services, request_id)
    assert request.state == "failed"
    assert request.state_reason == job.last_error
    assert "unexpected RuntimeError in the explode job" in request.state_reason
    assert len(events(log_lines, "job.retrying")) == 2 and len(events(log_lines, "job.failed")) == 1
    everything = json.dumps(log_lines()) + job.last_error + request.state_reason
    assert not [secret for secret in SECRETS if secret in everything]


def test_a_job_whose_worker_died_on_each_allowed_attempt_is_failed_as_poison_and_never_run(
    services, request_id, log_lines
):
    poison, finishing = enqueue(services, "explode", request_id), enqueue(services, "finish")
    for attempt in range(3):  # three workers claim it and die: their leases expire
        with services.database.transaction() as session:
            jobs.claim_next(session, owner=f"dead-{attempt}", lease_seconds=30, max_failures=3)
        expire_leases(services)
    ran: list[int] = []
    assert run_worker(services, explode=lambda context: ran.append(context.job.id), finish=finish) == 1
    assert ran == [] and job_row(services, finishing).state == "done"
    job = job_row(services, poison)
    assert (job.state, job.attempts, job.failures, job.lease_owner) == ("failed", 3, 3, None)
    assert job.last_error.startswith("poison job: the worker died or lost the database")
    assert "3 failed attempts in a row" in job.last_error
    assert (request_row(services, request_id).state, request_row(services, request_id).state_reason) == (
        "failed",
        job.last_error,
    )
    [failed] = events(log_lines, "job.failed")
    assert failed["poison"] is True and failed["job_id"] == poison


def test_a_job_that_died_with_attempts_to_spare_is_taken_over(services, request_id):
    job_id = enqueue(services, "finish", request_id)
    with services.database.transaction() as session:
        jobs.claim_next(session, owner="dead", lease_seconds=30, max_failures=3)
    expire_leases(services)
    assert run_worker(services) == 1
    job = job_row(services, job_id)
    assert (job.state, job.attempts, job.failures) == ("done", 2, 1)


@pytest.mark.parametrize(
    ("kind", "recorder"), [("explode", "retry_later"), ("refuse", "give_up"), ("hand_back", "release")]
)
def test_a_storage_error_while_recording_the_outcome_leaves_the_job_to_its_lease(
    services, request_id, log_lines, monkeypatch, kind, recorder
):
    lost, finishing = enqueue(services, kind, request_id), enqueue(services, "finish")
    original = getattr(jobs, recorder)

    def database_lost(*arguments, **keywords):
        raise StorageError("unavailable", "database unavailable (OperationalError)")

    monkeypatch.setattr(jobs, recorder, database_lost)
    assert run_worker(services) == 2, "the worker went on with the next job"
    job = job_row(services, lost)
    assert (job.state, job.attempts) == ("running", 1)
    assert job.lease_expires_at > Clock().now() + dt.timedelta(seconds=20), "the lease runs out, nothing else"
    assert job_row(services, finishing).state == "done"
    [unrecorded] = events(log_lines, "job.record_failed")
    assert (unrecorded["job_id"], unrecorded["reason"]) == (lost, "unavailable")

    monkeypatch.setattr(jobs, recorder, original)
    expire_leases(services)
    assert run_worker(services, **{kind: finish}) == 1
    job = job_row(services, lost)
    assert (job.state, job.attempts, job.failures) == ("done", 2, 1)


def test_the_loop_runs_until_stopped_whatever_its_jobs_do(services, request_id, monkeypatch):
    def database_lost(*arguments, **keywords):
        raise StorageError("unavailable", "database unavailable (OperationalError)")

    monkeypatch.setattr(jobs, "give_up", database_lost)
    exploding, refused = enqueue(services, "explode", request_id), enqueue(services, "refuse", request_id)
    worker = Worker(services, handlers=HANDLERS)
    loop = threading.Thread(target=worker.run)
    loop.start()
    try:
        wait_for(lambda: job_row(services, refused).attempts == 1)
        finishing = enqueue(services, "finish")
        wait_for(lambda: job_row(services, finishing).state == "done")
        assert loop.is_alive()
    finally:
        worker.stop()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert job_row(services, exploding).state == "queued" and job_row(services, refused).state == "running"


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)
