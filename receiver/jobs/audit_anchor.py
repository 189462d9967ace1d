"""The audit anchor: a periodic job that seals the chain and time-stamps its head (``receiver.usecases.audit``).

Queued when a worker starts, if ``AUDIT_TSA_URL`` names an authority (unless one is
queued already), and again by each run, ``AUDIT_ANCHOR_INTERVAL_SECONDS`` later. A run
whose authorities are all down has waited ``AUDIT_TSA_TIMEOUT_SECONDS`` at most and
logged ``audit.anchor_failed``; it ends like any other, and the next run tries again.
"""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.services import Services
from receiver.usecases import audit, job_runs

AUDIT_ANCHOR = "audit_anchor"


def schedule_audit_anchor(services: Services) -> bool:
    """Queue an anchor run due now, unless none is configured or one is queued already."""
    if not services.timestamper.configured:
        return False
    return job_runs.queue_periodic(services, AUDIT_ANCHOR)


def audit_anchor_job(context: JobContext) -> None:
    """Seal and time-stamp the head, then end the job and queue the next run."""
    services = context.services
    audit.anchor(services)
    job_runs.finish_and_queue_next(
        services, context.job, AUDIT_ANCHOR, seconds=services.settings.audit_anchor_interval_seconds
    )
