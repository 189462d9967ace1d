"""The periodic retention job: apply the retention policy (``receiver.usecases.retention``), then queue the next run.

Like reconciliation, it is queued when a worker starts to run continuously and again by
each run, ``RETENTION_INTERVAL_SECONDS`` later; when several workers queue one, the
duplicates die out because a run queues the next only when none is pending. A worker
asked to stop ends the run between two archives and hands the job back: the next worker
goes on where it stopped (every step is idempotent).
"""

from __future__ import annotations

import datetime as dt

from receiver.jobs.contract import JobContext, JobInterrupted
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases.retention import run_retention
from storage import cases, jobs
from storage.clock import utcnow

log = get_logger("receiver.jobs.retention")

#: The actor a policy deletion records when the worker made it.
ACTOR = cases.SERVICE


def schedule_retention(services: Services) -> bool:
    """Queue a retention run due now, unless one is queued or running already."""
    with services.database.transaction() as session:
        if not jobs.enqueue_periodic(session, jobs.RETENTION):
            return False
    log.info("retention.scheduled")
    return True


def retention_job(context: JobContext) -> None:
    """One retention run, then the next one queued."""
    services = context.services
    report = run_retention(services, actor=ACTOR, should_stop=context.stop_requested)
    if report.interrupted:
        raise JobInterrupted("worker stopping")
    with services.database.transaction() as session:
        if not jobs.finish(session, context.job):
            raise JobInterrupted("the lease passed to another worker")
        run_after = utcnow() + dt.timedelta(seconds=services.settings.retention_interval_seconds)
        jobs.enqueue_periodic(session, jobs.RETENTION, run_after=run_after)
