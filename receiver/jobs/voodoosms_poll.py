"""VoodooSMS forget requests have no callback: the worker asks ``/gdpr/status`` until done.

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

from receiver.jobs.contract import JobContext, JobFailure, JobInterrupted
from receiver.observability.logs import get_logger
from receiver.providers import ProviderError
from receiver.providers.voodoosms import NO_RECORDS, REQUEST_FAILED, Status
from settings import Settings
from storage import jobs, lifecycle, registry
from storage.clock import utcnow
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.voodoosms_poll")

PENDING, REMOVED, NO_RECORDS_STATE, FAILED_STATE = "pending", "removed", "no_records", "request_failed"


def voodoosms_poll_job(context: JobContext) -> None:
    """Ask VoodooSMS once about one forget request and record what it said."""
    submitted_at = _awaiting(context)
    if submitted_at is None:
        return
    job, client = context.job, context.services.providers.voodoosms
    try:
        with context.interruptible():
            status = client.status(submitted_at=submitted_at, reference=job.request_id or "")
    except ProviderError as error:
        _after_error(context, submitted_at, error)
        return
    if status.removed:
        _complete(context, status)
    else:
        _pending(context, submitted_at, PENDING, status.message)


def _awaiting(context: JobContext) -> dt.datetime | None:
    """When the request was submitted; None (and the job ended) when it no longer awaits removal."""
    with context.services.database.transaction() as session:
        request = registry.find(session, context.job.request_id or "")
        if request is not None and request.state == lifecycle.SENT:
            return request.provider_created_at or request.created_at
        jobs.finish(session, context.job)
    log.info("forget.poll_skipped", job_id=context.job.id, request_id=context.job.request_id)
    return None


def _after_error(context: JobContext, submitted_at: dt.datetime, error: ProviderError) -> None:
    if error.code == REQUEST_FAILED:
        _fail(
            context,
            f"VoodooSMS error 78: {error.description or 'Request failed'}",
            action="VoodooSMS says the request failed: contact your VoodooSMS account manager, "
            "then submit the number again",
        )
        return
    if error.code == NO_RECORDS:
        _pending(
            context, submitted_at, NO_RECORDS_STATE, f"VoodooSMS error 77: {error.description or 'No records found'}"
        )
        return
    if error.retryable or error.reason in ("unauthorized", "not_configured"):
        log.warning(
            "forget.poll_failed",
            request_id=context.job.request_id,
            reason=error.reason,
            code=error.code,
            status=error.status,
        )
        _pending(context, submitted_at, None, None)
        return
    raise JobFailure(f"VoodooSMS status: {error.message}", retryable=False)


def _complete(context: JobContext, status: Status) -> None:
    with _holding(context) as request:
        request.provider_state, request.result = REMOVED, status.message
        request.provider_checked_at = utcnow()
        lifecycle.move(request, lifecycle.COMPLETED, reason=status.message)
    log.info("forget.removed", request_id=context.job.request_id, polls=context.job.attempts)


def _fail(context: JobContext, reason: str, *, action: str) -> None:
    with _holding(context) as request:
        request.provider_state, request.action_needed = FAILED_STATE, action
        request.provider_checked_at = utcnow()
        lifecycle.move(request, lifecycle.FAILED, reason=reason)
    log.error("forget.failed", request_id=context.job.request_id, reason=reason)


def _pending(context: JobContext, submitted_at: dt.datetime, provider_state: str | None, message: str | None) -> None:
    """Record a "not yet" answer and poll again later, or fail the request when it is too old."""
    settings, now = context.services.settings, utcnow()
    deadline = submitted_at + dt.timedelta(seconds=settings.voodoosms_poll_max_age_seconds)
    if now >= deadline:
        _fail(
            context,
            f"not removed within {settings.voodoosms_poll_max_age_seconds} s of submission"
            + (f" (last answer: {message})" if message else ""),
            action="VoodooSMS never confirmed the removal: ask VoodooSMS support about this reference",
        )
        return
    run_after = min(now + dt.timedelta(seconds=next_interval(settings, context.job.attempts)), deadline)
    with context.services.database.transaction() as session:
        if not jobs.reschedule(session, context.job, run_after=run_after, note=message):
            raise JobInterrupted("the lease passed to another worker")
        request = registry.find(session, context.job.request_id or "", for_update=True)
        if request is not None:
            request.provider_checked_at = now
            request.provider_state = provider_state or request.provider_state
            request.result = message or request.result
    log.info(
        "forget.pending",
        request_id=context.job.request_id,
        provider_state=provider_state,
        polls=context.job.attempts,
        next_poll_s=round((run_after - now).total_seconds()),
    )


def next_interval(settings: Settings, polls: int) -> float:
    """Seconds to the next poll after ``polls`` polls: doubling from the first interval, capped."""
    interval = settings.voodoosms_poll_interval_seconds * 2 ** max(0, polls - 1)
    return float(min(interval, settings.voodoosms_poll_max_interval_seconds))


@contextmanager
def _holding(context: JobContext) -> Iterator[ProcessorRequest]:
    """The job's request, locked, in a transaction that also ends the job (or neither happens)."""
    with context.services.database.transaction() as session:
        if not jobs.finish(session, context.job):
            raise JobInterrupted("the lease passed to another worker")
        request = registry.find(session, context.job.request_id or "", for_update=True)
        assert request is not None  # the job's foreign key keeps it
        yield request
