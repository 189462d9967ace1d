"""Polling a VoodooSMS forget request, which has no callback: ``/gdpr/status`` asked until done.

One ``voodoosms_poll`` job per request, queued with the request itself. Each run asks
once and then, in the transaction that records the answer, either ends the job (the
number is removed: ``completed``; error 78: ``failed``) or queues it again after an
interval that doubles from ``VOODOOSMS_POLL_INTERVAL_SECONDS`` up to
``VOODOOSMS_POLL_MAX_INTERVAL_SECONDS``. The last poll happens at
``VOODOOSMS_POLL_MAX_AGE_SECONDS`` after submission; a request not removed by then is
``failed``, with what ops must do written on the record.

Error 77 ("No records found") and transient failures (429, 5xx, timeouts, a refused
key) do not end the polling: they are recorded on the request and asked again later,
until the age limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from receiver.backoff import doubling_seconds
from receiver.observability.logs import get_logger
from receiver.providers import ProviderError
from receiver.providers.voodoosms import NO_RECORDS, REQUEST_FAILED, Status
from receiver.services import Services
from receiver.usecases.job_runs import LEASE_LOST, Interruptible, JobFailure, JobInterrupted, finish
from settings import Settings
from storage import jobs, lifecycle, registry
from storage.jobs import ClaimedJob
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.voodoosms_poll")  # the job's log, as its events have always been named

PENDING, REMOVED, NO_RECORDS_STATE, FAILED_STATE = "pending", "removed", "no_records", "request_failed"


def poll_forget(services: Services, job: ClaimedJob, *, interruptible: Interruptible) -> None:
    """Ask VoodooSMS once about the job's forget request and record what it said."""
    run = _Run(services, job)
    submitted_at = _awaiting(run)
    if submitted_at is None:
        return
    try:
        with interruptible():
            status = services.providers.voodoosms.status(submitted_at=submitted_at, reference=job.request_id or "")
    except ProviderError as error:
        _after_error(run, submitted_at, error)
        return
    if status.removed:
        _complete(run, status)
    else:
        _pending(run, submitted_at, PENDING, status.message)


@dataclass(frozen=True)
class _Run:
    services: Services
    job: ClaimedJob


def _awaiting(run: _Run) -> dt.datetime | None:
    """When the request was submitted; None (and the job ended) when it no longer awaits removal."""
    with run.services.database.transaction() as session:
        request = registry.find(session, run.job.request_id or "")
        if request is not None and request.state == lifecycle.SENT:
            return request.provider_created_at or request.created_at
        jobs.finish(session, run.job)
    log.info("forget.poll_skipped", job_id=run.job.id, request_id=run.job.request_id)
    return None


def _after_error(run: _Run, submitted_at: dt.datetime, error: ProviderError) -> None:
    if error.code == REQUEST_FAILED:
        _fail(
            run,
            f"VoodooSMS error 78: {error.description or 'Request failed'}",
            action="VoodooSMS says the request failed: contact your VoodooSMS account manager, "
            "then submit the number again",
        )
        return
    if error.code == NO_RECORDS:
        _pending(run, submitted_at, NO_RECORDS_STATE, f"VoodooSMS error 77: {error.description or 'No records found'}")
        return
    if error.retryable or error.reason in ("unauthorized", "not_configured"):
        log.warning(
            "forget.poll_failed",
            request_id=run.job.request_id,
            reason=error.reason,
            code=error.code,
            status=error.status,
        )
        _pending(run, submitted_at, None, None)
        return
    raise JobFailure(f"VoodooSMS status: {error.message}", retryable=False)


def _complete(run: _Run, status: Status) -> None:
    with _holding(run) as request:
        request.provider_state, request.result = REMOVED, status.message
        request.provider_checked_at = run.services.clock.now()
        lifecycle.move(request, lifecycle.COMPLETED, reason=status.message)
    log.info("forget.removed", request_id=run.job.request_id, polls=run.job.attempts)


def _fail(run: _Run, reason: str, *, action: str) -> None:
    with _holding(run) as request:
        request.provider_state, request.action_needed = FAILED_STATE, action
        request.provider_checked_at = run.services.clock.now()
        lifecycle.move(request, lifecycle.FAILED, reason=reason)
    log.error("forget.failed", request_id=run.job.request_id, reason=reason)


def _pending(run: _Run, submitted_at: dt.datetime, provider_state: str | None, message: str | None) -> None:
    """Record a "not yet" answer and poll again later, or fail the request when it is too old."""
    settings, now = run.services.settings, run.services.clock.now()
    deadline = submitted_at + dt.timedelta(seconds=settings.voodoosms_poll_max_age_seconds)
    if now >= deadline:
        _fail(
            run,
            f"not removed within {settings.voodoosms_poll_max_age_seconds} s of submission"
            + (f" (last answer: {message})" if message else ""),
            action="VoodooSMS never confirmed the removal: ask VoodooSMS support about this reference",
        )
        return
    run_after = min(now + dt.timedelta(seconds=next_interval(settings, run.job.attempts)), deadline)
    with run.services.database.transaction() as session:
        if not jobs.reschedule(session, run.job, run_after=run_after, note=message):
            raise JobInterrupted(LEASE_LOST)
        request = registry.find(session, run.job.request_id or "", for_update=True)
        if request is not None:
            request.provider_checked_at = now
            request.provider_state = provider_state or request.provider_state
            request.result = message or request.result
    log.info(
        "forget.pending",
        request_id=run.job.request_id,
        provider_state=provider_state,
        polls=run.job.attempts,
        next_poll_s=round((run_after - now).total_seconds()),
    )


def next_interval(settings: Settings, polls: int) -> float:
    """Seconds to the next poll after ``polls`` polls: the service's backoff schedule, without jitter."""
    return doubling_seconds(
        polls, base=settings.voodoosms_poll_interval_seconds, cap=settings.voodoosms_poll_max_interval_seconds
    )


@contextmanager
def _holding(run: _Run) -> Iterator[ProcessorRequest]:
    """The job's request, locked, in a transaction that also ends the job (or neither happens)."""
    with run.services.database.transaction() as session:
        finish(session, run.job)
        request = registry.find(session, run.job.request_id or "", for_update=True)
        assert request is not None  # the job's foreign key keeps it
        yield request
