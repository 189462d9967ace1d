"""The deadline check: a periodic job that records a notification for what is about to be late, or is late.

Queued when a worker starts and again by each run, every ``DEADLINE_CHECK_INTERVAL_SECONDS``
(duplicates dying out as with reconciliation), only while a notification channel is
configured; what it looks for and how each is recorded once: ``receiver.usecases.alerts``.
"""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import alerts, job_runs

log = get_logger("receiver.jobs.deadline_check")

DEADLINE_CHECK = alerts.DEADLINE_CHECK


def schedule_deadline_check(services: Services) -> bool:
    """Queue a check due now, unless no notification channel is configured or one is queued already."""
    if not services.notifiers.channels:
        return False
    if not job_runs.queue_periodic(services, DEADLINE_CHECK):
        return False
    log.info("deadline_check.scheduled")
    return True


def deadline_check_job(context: JobContext) -> None:
    """Record the notifications due today, and queue the next check (while a channel is configured)."""
    alerts.run_deadline_check(context.services, context.job)
