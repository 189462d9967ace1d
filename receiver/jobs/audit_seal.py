"""The audit seal: a periodic job that seals new transitions and audit events into the hash chain.

Queued when a worker starts (unless one is queued already) and again by each run,
``AUDIT_SEAL_INTERVAL_SECONDS`` later; duplicates die out as with the deadline check.
Each run seals every row not chained yet and logs the head (``audit.chain_head``).
Sealing is idempotent and takes its own lock, so a run that overlaps ``flask audit
verify`` or an evidence export (which seal first too) only finds less to do.
"""

from __future__ import annotations

import datetime as dt

from receiver.jobs.contract import JobContext, JobInterrupted
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import audit
from storage import jobs
from storage.clock import utcnow

log = get_logger("receiver.jobs.audit_seal")

AUDIT_SEAL = "audit_seal"


def schedule_audit_seal(services: Services) -> bool:
    """Queue a seal due now, unless one is queued already."""
    with services.database.transaction() as session:
        return jobs.enqueue_periodic(session, AUDIT_SEAL)


def audit_seal_job(context: JobContext) -> None:
    """Seal what is new (the head is logged), then end the job and queue the next seal."""
    services = context.services
    audit.seal(services)
    with services.database.transaction() as session:
        if not jobs.finish(session, context.job):
            raise JobInterrupted("the lease passed to another worker")
        next_run = utcnow() + dt.timedelta(seconds=services.settings.audit_seal_interval_seconds)
        jobs.enqueue_periodic(session, AUDIT_SEAL, run_after=next_run)
