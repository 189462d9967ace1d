"""Jobs that fail in every way a job can, under the real ``flask worker``: the worker never dies of one.

The jobs are ``tests/faults/job_faults.py``'s kinds, run by ``flask --app
tests.faults.job_faults worker``: the service's own worker command and loop, with
handlers that raise what nobody expected, kill their own process, or find the
database gone at the moment they record their result.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from storage import jobs
from storage.clock import Clock
from storage.db import Database
from storage.models import Job, ProcessorRequest
from tests.faults import job_faults
from tests.faults.conftest import wait_until
from tests.support.databases import Backend
from tests.support.load import GET_KIND, register_requests
from tests.support.processes import Launcher, ServiceProcess

pytestmark = pytest.mark.slow

APP = "tests.faults.job_faults"
MAX_ATTEMPTS = 3
LEASE_SECONDS = 5


@pytest.fixture
def worker_env(app_env, signer, tmp_path) -> dict[str, str]:
    """The service's environment with a short lease and three attempts; one registered request, ``req-1``."""
    control = tmp_path / "control"
    control.mkdir()
    env = {
        **app_env,
        "WORKER_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKER_POLL_SECONDS": "0.2",
        "FAULT_CONTROL_DIR": str(control),
    }
    register_requests(
        env["DATABASE_URL"], secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds={"req-1": GET_KIND}
    )
    return env


class Jobs:
    """The test's own view of the jobs table, through its own connection."""

    def __init__(self, database_url: str) -> None:
        self.database = Database(database_url)

    def enqueue(self, kind: str, request_id: str | None = None) -> int:
        with self.database.transaction() as session:
            return jobs.enqueue(session, kind=kind, request_id=request_id).id

    def job(self, job_id: int) -> Job:
        with self.database.transaction() as session:
            return session.get(Job, job_id)

    def request(self, request_id: str) -> ProcessorRequest:
        with self.database.transaction() as session:
            return session.get(ProcessorRequest, request_id)

    def make_due(self, job_id: int) -> None:
        with self.database.transaction() as session:
            session.execute(update(Job).where(Job.id == job_id).values(run_after=Clock().now()))


@pytest.fixture
def table(worker_env):
    view = Jobs(worker_env["DATABASE_URL"])
    yield view
    view.database.dispose()


def events(worker: ServiceProcess, name: str) -> list[dict]:
    return worker.events(name)


def goes_on_with_other_jobs(worker: ServiceProcess, table: Jobs) -> bool:
    """A job queued now is done by this worker, which is still running afterwards."""
    other = table.enqueue(job_faults.OK)
    wait_until(lambda: table.job(other).state == "done", timeout=20, what="another job done")
    return worker.process.poll() is None


def stopped_cleanly(worker: ServiceProcess) -> int:
    worker.kill(signal.SIGTERM)
    return worker.process.wait(timeout=15)


def test_a_job_raising_an_unexpected_exception_is_retried_then_failed_and_the_worker_lives_on(
    launcher: Launcher, worker_env, table, report
):
    """Invariant: an exception the service does not know is its job's failure: logged with its type
    and where it was raised, never its text; retried after a backoff within WORKER_MAX_ATTEMPTS;
    then the job and its request are ``failed`` with a readable reason; the same worker process
    goes on with other jobs and stops cleanly."""
    crashing = table.enqueue(job_faults.CRASH, "req-1")
    worker = launcher.start_worker(worker_env, app=APP)
    backoffs = []
    for failures in range(1, MAX_ATTEMPTS):
        job = wait_until(
            lambda failures=failures: (j := table.job(crashing)).failures == failures and j.state == "queued" and j,
            timeout=30,
            what=f"failed attempt {failures} queued again",
        )
        backoffs.append(round((job.run_after - job.updated_at).total_seconds(), 1))
        table.make_due(crashing)  # the backoff was checked; no need to sit through it
    wait_until(lambda: table.job(crashing).state == "failed", timeout=30, what="the job failed")
    job, request = table.job(crashing), table.request("req-1")
    alive_after = goes_on_with_other_jobs(worker, table)
    crashes = events(worker, "job.crashed")
    leaked = [
        secret
        for secret in job_faults.SECRETS
        if secret in worker.log() + (job.last_error or "") + (request.state_reason or "")
    ]
    exit_status = stopped_cleanly(worker)
    counts = report(
        attempts=job.attempts,
        crashes_logged=len(crashes),
        retries=len(events(worker, "job.retrying")),
        backoffs_s=backoffs,
        job_state=job.state,
        request_state=request.state,
        reason=request.state_reason,
        secrets_leaked=len(leaked),
        worker_alive=alive_after,
        tracebacks=worker.log().count("Traceback"),
        exit_status=exit_status,
    )
    assert (job.attempts, len(crashes), len(events(worker, "job.retrying"))) == (MAX_ATTEMPTS, MAX_ATTEMPTS, 2), counts
    assert all(backoff >= 2.5 for backoff in backoffs), f"retried after a backoff: {counts}"
    assert {c["error_type"] for c in crashes} == {"LookupError"}, counts
    assert all(c["stack"][-1].startswith(f"{APP}:crash:") for c in crashes), counts
    assert (request.state, request.state_reason) == ("failed", job.last_error), counts
    assert request.state_reason.startswith(f"unexpected LookupError in the {job_faults.CRASH} job at {APP}:crash:")
    assert leaked == [] and "Traceback" not in worker.log(), counts
    assert alive_after and exit_status == 0, counts


def test_a_job_that_kills_its_worker_is_failed_as_poison_and_the_next_worker_goes_on(
    launcher: Launcher, worker_env, table, report
):
    """Invariant: a job whose handler kills its own process (SIGKILL), run by ``flask worker``
    restarted each time it dies as a supervisor would, runs WORKER_MAX_ATTEMPTS times and no more:
    the worker after that fails it as poison (its request too, with the reason) without running
    it, then goes on with other jobs."""
    poison = table.enqueue(job_faults.KILL, "req-1")
    deaths: list[int] = []
    began = time.monotonic()
    worker = launcher.start_worker(worker_env, app=APP)
    while table.job(poison).state != "failed":
        assert len(deaths) <= MAX_ATTEMPTS + 1, f"still not failed after {len(deaths)} deaths"
        assert time.monotonic() - began < 120, f"still not failed after 120 s and {len(deaths)} deaths"
        try:
            deaths.append(worker.process.wait(timeout=0.5))
        except subprocess.TimeoutExpired:
            continue
        worker = launcher.start_worker(worker_env, app=APP)  # the supervisor restarts it
    seconds = round(time.monotonic() - began, 1)
    job, request = table.job(poison), table.request("req-1")
    alive_after = goes_on_with_other_jobs(worker, table)
    [failed] = events(worker, "job.failed")
    exit_status = stopped_cleanly(worker)
    counts = report(
        deaths=len(deaths),
        exit_statuses=sorted(set(deaths)),
        attempts=job.attempts,
        failures=job.failures,
        job_state=job.state,
        request_state=request.state,
        reason=request.state_reason,
        poison_logged=failed.get("poison"),
        worker_alive=alive_after,
        seconds=seconds,
        tracebacks=worker.log().count("Traceback"),
        exit_status=exit_status,
    )
    assert deaths == [-signal.SIGKILL] * MAX_ATTEMPTS, counts
    assert (job.state, job.attempts, job.failures) == ("failed", MAX_ATTEMPTS, MAX_ATTEMPTS), counts
    assert job.last_error.startswith("poison job: the worker died"), counts
    assert (request.state, request.state_reason) == ("failed", job.last_error), counts
    assert failed["poison"] is True and failed["job_id"] == poison and "Traceback" not in worker.log(), counts
    assert alive_after and exit_status == 0, counts


@pytest.mark.postgres
class TestDatabaseLostWhileRecording:
    OUTAGE_SECONDS = 4.0

    @pytest.fixture
    def backend(self, private_postgres) -> Backend:
        return Backend(private_postgres.url)

    def test_the_worker_outlives_the_database_and_finishes_the_job_once_it_is_back(
        self, launcher: Launcher, worker_env, table, private_postgres, report
    ):
        """Invariant: PostgreSQL (a private cluster) stopped at the moment a job records its result:
        recording it fails and so does recording the failure, and the worker process stays up
        (logging it, its claims failing while the database is down); once the database is back the
        job comes back after its lease and is finished, its request ``completed``, by the same worker."""
        recording = table.enqueue(job_faults.RECORD, "req-1")
        control = Path(worker_env["FAULT_CONTROL_DIR"])
        worker = launcher.start_worker(worker_env, app=APP)
        wait_until(lambda: (control / f"{recording}.ready").exists(), timeout=30, what="the job about to record")
        private_postgres.stop()
        (control / f"{recording}.go").touch()
        wait_until(lambda: events(worker, "job.record_failed"), timeout=30, what="the outcome not recorded")
        time.sleep(self.OUTAGE_SECONDS)
        alive_while_down = worker.process.poll() is None
        claims_failed = len(events(worker, "worker.claim_failed"))
        private_postgres.start()
        restarted = time.monotonic()
        table.database.engine.dispose()  # the test's own connections died with the server
        wait_until(lambda: table.job(recording).state == "done", timeout=LEASE_SECONDS + 30, what="the job done")
        finished_after = round(time.monotonic() - restarted, 1)
        job, request = table.job(recording), table.request("req-1")
        alive_after = goes_on_with_other_jobs(worker, table)
        unrecorded = events(worker, "job.record_failed")
        exit_status = stopped_cleanly(worker)
        counts = report(
            record_failed_logged=len(unrecorded),
            claims_failed_while_down=claims_failed,
            alive_while_down=alive_while_down,
            finished_s_after_restart=finished_after,
            attempts=job.attempts,
            job_state=job.state,
            request_state=request.state,
            worker_alive=alive_after,
            tracebacks=worker.log().count("Traceback"),
            exit_status=exit_status,
        )
        assert [(u["job_id"], u["reason"]) for u in unrecorded] == [(recording, "unavailable")], counts
        assert "Traceback" not in worker.log(), counts
        assert alive_while_down and claims_failed > 0, counts
        assert (job.state, job.attempts, request.state) == ("done", 2, "completed"), counts
        assert [t.to_state for t in self._transitions(table)] == ["sent", "completed"], counts
        assert alive_after and exit_status == 0, counts

    @staticmethod
    def _transitions(table: Jobs):
        with table.database.transaction() as session:
            request = session.get(ProcessorRequest, "req-1")
            return list(request.transitions)
