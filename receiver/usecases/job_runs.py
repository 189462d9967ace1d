"""A worker job's run, as the use cases the jobs call see it: how it ends, how it comes back, how it fails.

A job's use case ends the job (``finish``) in the transaction that records its result,
so a result is never written without the job being done, nor the other way round.
``JobFailure`` and ``JobInterrupted`` are the two ways a run ends early; the worker
loop (``receiver.jobs.worker``) turns them into a retry, a failure or a hand-back, and
``receiver.jobs.contract`` gives them to the job modules. A job that fails for good
fails its processor request with it (``give_up``, ``claim_next`` for a poison job).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from receiver.services import Services
from storage import jobs, lifecycle, registry
from storage.errors import ServiceError
from storage.jobs import ClaimedJob, PoisonJob

LEASE_LOST = "the lease passed to another worker"
#: A section (a blocking call) that the worker's SIGTERM interrupts at once with ``JobInterrupted``.
Interruptible = Callable[[], AbstractContextManager[None]]


class JobFailure(ServiceError):
    """A job did not succeed; ``message`` is readable by ops (the job's ``last_error``, the log's ``reason``),
    ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool, reason: str = "job_failed") -> None:
        super().__init__(reason, message)
        self.retryable = retryable


class JobInterrupted(Exception):
    """The worker is stopping or lost the lease: give the job back untouched."""


def finish(session: Session, job: ClaimedJob) -> None:
    """End ``job`` in ``session``'s transaction; ``JobInterrupted`` when its lease passed to another worker."""
    if not jobs.finish(session, job):
        raise JobInterrupted(LEASE_LOST)


def queue_periodic(services: Services, kind: str) -> bool:
    """Queue a run of the periodic job ``kind`` due now, unless one is queued already; whether one was queued."""
    with services.database.transaction() as session:
        return jobs.enqueue_periodic(session, kind)


def queue_next(session: Session, kind: str, *, seconds: float, now: dt.datetime) -> None:
    """Queue the next run of ``kind`` ``seconds`` after ``now``, unless another worker did (duplicates die out)."""
    jobs.enqueue_periodic(session, kind, run_after=now + dt.timedelta(seconds=seconds))


def finish_and_queue_next(services: Services, job: ClaimedJob, kind: str, *, seconds: float) -> None:
    """End a run of the periodic job ``kind`` and queue its next run ``seconds`` later, in one transaction."""
    with services.database.transaction() as session:
        finish(session, job)
        queue_next(session, kind, seconds=seconds, now=services.clock.now())


def claim_next(services: Services, *, owner: str) -> tuple[list[PoisonJob], ClaimedJob | None]:
    """Fail the poison jobs (and their requests), then take the lease on the next due job, in one transaction."""
    settings = services.settings
    with services.database.transaction() as session:
        poisoned = jobs.fail_poison(session, max_failures=settings.worker_max_attempts)
        for job in poisoned:
            fail_request(session, job.request_id, job.reason)
        claimed = jobs.claim_next(
            session,
            owner=owner,
            lease_seconds=settings.worker_lease_seconds,
            max_failures=settings.worker_max_attempts,
        )
    return poisoned, claimed


def may_retry(services: Services, job: ClaimedJob, failures: int) -> bool:
    """Fewer than ``WORKER_MAX_ATTEMPTS`` failures in a row and younger than ``WORKER_MAX_AGE_SECONDS``."""
    settings = services.settings
    age = (services.clock.now() - job.created_at).total_seconds()
    return failures < settings.worker_max_attempts and age < settings.worker_max_age_seconds


def retry_later(services: Services, job: ClaimedJob, *, delay_seconds: float, error: str) -> None:
    with services.database.transaction() as session:
        jobs.retry_later(
            session, job, run_after=services.clock.now() + dt.timedelta(seconds=delay_seconds), error=error
        )


def give_up(services: Services, job: ClaimedJob, *, error: str) -> None:
    """Fail the job for good, and its request with it."""
    with services.database.transaction() as session:
        if jobs.give_up(session, job, error=error):
            fail_request(session, job.request_id, error)


def fail_request(session: Session, request_id: str | None, reason: str) -> None:
    """Move a failed job's request to ``failed`` with ``reason``, unless it has ended already (completed or failed)."""
    request = registry.find(session, request_id, for_update=True) if request_id else None
    if request is not None and request.state not in (lifecycle.COMPLETED, lifecycle.FAILED):
        lifecycle.move(request, lifecycle.FAILED, reason=reason)
