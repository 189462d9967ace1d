"""The audit seal: a periodic job that seals every covered fact's versions not sealed yet into the hash chain.

Queued when a worker starts (unless one is queued already) and again by each run,
``AUDIT_SEAL_INTERVAL_SECONDS`` later; duplicates die out as with the deadline check.
Each run seals every row not chained yet and logs the head (``audit.chain_head``).
Sealing is idempotent and takes its own lock, so a run that overlaps ``flask audit
verify`` or an evidence export (which seal first too) only finds less to do.
"""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.services import Services
from receiver.usecases import audit, job_runs

AUDIT_SEAL = "audit_seal"


def schedule_audit_seal(services: Services) -> bool:
    """Queue a seal due now, unless one is queued already."""
    return job_runs.queue_periodic(services, AUDIT_SEAL)


def audit_seal_job(context: JobContext) -> None:
    """Seal what is new (the head is logged), then end the job and queue the next seal."""
    services = context.services
    audit.seal(services)
    job_runs.finish_and_queue_next(
        services, context.job, AUDIT_SEAL, seconds=services.settings.audit_seal_interval_seconds
    )
