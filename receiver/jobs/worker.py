"""The background worker: claims due jobs with a lease, runs them, retries with backoff.

Any number of workers may run on any number of machines; the lease in the jobs table
makes sure one job runs in one place at a time. While a job runs, a heartbeat thread
extends its lease; a worker killed with ``kill -9`` stops extending it, the lease runs
out, and another worker takes the job over. A handler ends its job itself, in the
transaction that records its result, so neither is written without the other.

A worker never dies of a job, and the loop ends only when asked to stop:

- ``JobFailure`` or any other exception ends the attempt (an unexpected one logged as
  ``job.crashed`` with its type and frames, never its text); it is retried after a backoff
  until ``WORKER_MAX_ATTEMPTS`` failed attempts in a row or ``WORKER_MAX_AGE_SECONDS``, then
  the job and its request are ``failed`` with the reason;
- a handler that ends the process leaves its job ``running`` until the lease expires; the
  attempt that would reach the limit is not run: the job is failed as poison;
- a ``StorageError`` while recording an outcome is logged (``job.record_failed``); the job
  comes back once its lease runs out.

SIGTERM and SIGINT ask the worker to stop: a handler inside ``interruptible()`` is
interrupted at once, elsewhere it sees ``stop_requested()``; it raises ``JobInterrupted`` and
the job is released untouched, its attempt not counted. The story: docs/operations.md.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from receiver.backoff import backoff_seconds
from receiver.jobs import (
    answer_email,
    answer_package,
    archive,
    audit_anchor,
    audit_seal,
    deadline_check,
    notify,
    reconcile,
    voodoosms_poll,
)
from receiver.jobs.contract import Handler, JobContext, JobFailure, JobInterrupted, stack_of, unexpected_failure
from receiver.jobs.retention import retention_job, schedule_retention
from receiver.observability.logs import get_logger
from receiver.observability.metrics import JOB_OUTCOMES
from receiver.services import Services
from receiver.usecases import job_runs, subject_links, subject_package
from receiver.usecases.retention import warn_if_deletion_blocked
from storage import jobs as job_queue
from storage.errors import StorageError
from storage.jobs import ClaimedJob

log = get_logger("receiver.jobs.worker")

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 900.0


def default_handlers() -> dict[str, Handler]:
    """One handler per job kind."""
    return {
        job_queue.ARCHIVE: archive.archive_job,
        job_queue.RECONCILE: reconcile.reconcile_job,
        job_queue.VOODOOSMS_POLL: voodoosms_poll.voodoosms_poll_job,
        job_queue.RETENTION: retention_job,
        deadline_check.DEADLINE_CHECK: deadline_check.deadline_check_job,
        notify.NOTIFY: notify.notify_job,
        audit_seal.AUDIT_SEAL: audit_seal.audit_seal_job,
        subject_package.ANSWER_PACKAGE: answer_package.answer_package_job,
        subject_links.ANSWER_EMAIL: answer_email.answer_email_job,
        audit_anchor.AUDIT_ANCHOR: audit_anchor.audit_anchor_job,
    }


@dataclass
class Worker:
    services: Services
    handlers: dict[str, Handler] = field(default_factory=default_handlers)
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}")
    _stop: threading.Event = field(default_factory=threading.Event)
    _in_interruptible: bool = False

    def run(self, *, once: bool = False) -> int:
        """Run jobs until stopped (or, with ``once``, until none is due); return how many ran."""
        self._install_signal_handlers()
        log.info("worker.started", owner=self.owner)
        self._schedule_periodic_jobs()
        if not once:
            self._start_retention()
        ran = 0
        while not self._stop.is_set():
            claimed = self._claim()
            if claimed is None:
                if once:
                    break
                self._stop.wait(self.services.settings.worker_poll_seconds)
                continue
            self.run_job(claimed)
            ran += 1
        log.info("worker.stopped", owner=self.owner, jobs_run=ran)
        return ran

    def stop(self) -> None:
        self._stop.set()

    def _start_retention(self) -> None:
        """Queue the retention run if this worker runs it and none is queued, and check (in the background,
        so a slow store delays nothing) whether the archive store would refuse its deletions."""
        if job_queue.RETENTION not in self.handlers:
            return
        threading.Thread(
            target=warn_if_deletion_blocked, args=(self.services,), name="deletion-check", daemon=True
        ).start()
        try:
            schedule_retention(self.services)
        except StorageError as error:
            log.warning("retention.schedule_failed", reason=error.reason)

    def _schedule_periodic_jobs(self) -> None:
        """Queue each periodic job this worker runs (reconciliation, the deadline check, the audit seal and anchor)
        unless one is queued."""
        periodic = {
            job_queue.RECONCILE: reconcile.schedule_reconciliation,
            deadline_check.DEADLINE_CHECK: deadline_check.schedule_deadline_check,
            audit_seal.AUDIT_SEAL: audit_seal.schedule_audit_seal,
            audit_anchor.AUDIT_ANCHOR: audit_anchor.schedule_audit_anchor,
        }
        for kind, schedule in periodic.items():
            if kind not in self.handlers:
                continue
            try:
                schedule(self.services)
            except StorageError as error:
                log.warning(f"{kind}.schedule_failed", reason=error.reason)  # noqa: G004  a structlog event name, not a format string

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker.stopping", signal=signal.Signals(signum).name)
            self._stop.set()
            if self._in_interruptible:
                self._in_interruptible = False
                raise JobInterrupted("worker stopping")

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def _claim(self) -> ClaimedJob | None:
        """Fail the poison jobs, then take the lease on the next due job; None when none is due (or no database)."""
        try:
            poisoned, claimed = job_runs.claim_next(self.services, owner=self.owner)
        except StorageError as error:
            log.warning("worker.claim_failed", reason=error.reason)
            self._stop.wait(self.services.settings.worker_poll_seconds)
            return None
        for job in poisoned:
            log.error(
                "job.failed",
                job_id=job.id,
                kind=job.kind,
                request_id=job.request_id,
                reason=job.reason,
                attempt=job.attempts,
                poison=True,
            )
            JOB_OUTCOMES.labels(job.kind, "poison").inc()
        return claimed

    def run_job(self, job: ClaimedJob) -> str:
        """Run one claimed job and record how it ended; never raises but to stop the process (``SystemExit``).

        Returns the outcome: ``finished``, ``released``, ``retrying``, ``failed``, or
        ``unrecorded`` (the outcome could not be written: the job comes back after its lease).
        """
        log.info("job.started", job_id=job.id, kind=job.kind, request_id=job.request_id, attempt=job.attempts)
        heartbeat = _Heartbeat(self.services, job)
        heartbeat.start()
        try:
            outcome = self._record(job, self._ending_of(job, heartbeat))
        finally:
            heartbeat.stop()
        JOB_OUTCOMES.labels(job.kind, outcome).inc()
        return outcome

    def _ending_of(self, job: ClaimedJob, heartbeat: _Heartbeat) -> JobFailure | JobInterrupted | None:
        """Run the job's handler: None when it succeeded, else the failure or hand-back it ended with."""
        handler = self.handlers.get(job.kind)
        if handler is None:
            return JobFailure(f"no handler for job kind {job.kind}", retryable=False)
        try:
            handler(JobContext(self.services, job, lambda: self._stop.is_set() or heartbeat.lost, self._interruptible))
        except (JobFailure, JobInterrupted) as ending:
            return ending
        except StorageError as error:
            return JobFailure(f"storage {error.reason}: {error.message}", retryable=error.retryable)
        except Exception as error:
            log.error(
                "job.crashed",
                job_id=job.id,
                kind=job.kind,
                request_id=job.request_id,
                attempt=job.attempts,
                error_type=type(error).__name__,
                stack=stack_of(error),
            )
            return unexpected_failure(error, job.kind)
        return None

    def _record(self, job: ClaimedJob, ending: JobFailure | JobInterrupted | None) -> str:
        """Write how the job ended; on a ``StorageError`` leave it ``running`` for its lease to run out."""
        try:
            if ending is None:
                log.info("job.finished", job_id=job.id, kind=job.kind, request_id=job.request_id)
                return "finished"
            if isinstance(ending, JobInterrupted):
                self._release(job)
                return "released"
            return self._after_failure(job, ending)
        except StorageError as error:
            log.error(
                "job.record_failed",
                job_id=job.id,
                kind=job.kind,
                request_id=job.request_id,
                attempt=job.attempts,
                reason=error.reason,
                retry_after_s=self.services.settings.worker_lease_seconds,
            )
            return "unrecorded"

    @contextmanager
    def _interruptible(self) -> Iterator[None]:
        """A section that SIGTERM interrupts at once by raising ``JobInterrupted`` in it."""
        if self._stop.is_set():
            raise JobInterrupted("worker stopping")
        self._in_interruptible = True
        try:
            yield
        finally:
            self._in_interruptible = False

    def _release(self, job: ClaimedJob) -> None:
        with self.services.database.transaction() as session:
            job_queue.release(session, job)
        log.info("job.released", job_id=job.id, kind=job.kind, request_id=job.request_id)

    def _after_failure(self, job: ClaimedJob, failure: JobFailure) -> str:
        """Queue the job again or give it up; returns which ("retrying" or "failed")."""
        failures = job.failures + 1  # this attempt's included
        if failure.retryable and job_runs.may_retry(self.services, job, failures):
            delay = backoff_seconds(failures, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS)
            job_runs.retry_later(self.services, job, delay_seconds=delay, error=failure.message)
            log.warning(
                "job.retrying",
                job_id=job.id,
                kind=job.kind,
                request_id=job.request_id,
                reason=failure.message,
                attempt=job.attempts,
                failures=failures,
                delay_s=round(delay, 1),
            )
            return "retrying"
        job_runs.give_up(self.services, job, error=failure.message)
        log.error(
            "job.failed",
            job_id=job.id,
            kind=job.kind,
            request_id=job.request_id,
            reason=failure.message,
            attempt=job.attempts,
            failures=failures,
        )
        return "failed"


class _Heartbeat:
    """Extends a running job's lease every third of the lease, until stopped or the lease is lost."""

    def __init__(self, services: Services, job: ClaimedJob) -> None:
        self._services = services
        self._job = job
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)
        self.lost = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        lease = self._services.settings.worker_lease_seconds
        while not self._stopped.wait(lease / 3):
            try:
                with self._services.database.transaction() as session:
                    held = job_queue.extend_lease(session, self._job, lease_seconds=lease)
            except StorageError as error:
                log.warning("job.heartbeat_failed", job_id=self._job.id, reason=error.reason)
                continue
            if not held:
                self.lost = True
                log.warning("job.lease_lost", job_id=self._job.id, request_id=self._job.request_id)
                return
