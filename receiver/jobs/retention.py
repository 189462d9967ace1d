"""The periodic retention job: apply the retention policy (``receiver.usecases.retention``), then queue the next run.

Like reconciliation, it is queued when a worker starts to run continuously and again by
each run, ``RETENTION_INTERVAL_SECONDS`` later; when several workers queue one, the
duplicates die out because a run queues the next only when none is pending. A worker
asked to stop ends the run between two archives and hands the job back: the next worker
goes on where it stopped (every step is idempotent).
"""

from __future__ import annotations

from receiver.jobs.contract import JobContext, JobInterrupted
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import job_runs
from receiver.usecases.retention import RETENTION, WORKER_ACTOR, run_retention

log = get_logger("receiver.jobs.retention")

#: The actor a policy deletion records when the worker made it.
ACTOR = WORKER_ACTOR


def schedule_retention(services: Services) -> bool:
    """Queue a retention run due now, unless one is queued or running already."""
    if not job_runs.queue_periodic(services, RETENTION):
        return False
    log.info("retention.scheduled")
    return True


def retention_job(context: JobContext) -> None:
    """One retention run, then the next one queued."""
    services = context.services
    report = run_retention(services, actor=ACTOR, should_stop=context.stop_requested)
    if report.interrupted:
        raise JobInterrupted("worker stopping")
    job_runs.finish_and_queue_next(
        services, context.job, RETENTION, seconds=services.settings.retention_interval_seconds
    )
