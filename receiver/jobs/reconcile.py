"""The reconciliation job: compare the providers' records with the registry (``receiver.usecases.reconciliation``).

Queued when a worker starts (while a provider is configured) and again by each run, every
``RECONCILE_INTERVAL_SECONDS``; a send whose answer was lost queues one early. A failed
call to a provider is logged and tried again at the next interval: the period never ends.
"""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import job_runs, reconciliation

log = get_logger("receiver.jobs.reconcile")


def schedule_reconciliation(services: Services) -> bool:
    """Queue a reconciliation due now, unless no provider is configured or one is queued already."""
    providers = services.providers
    if not (providers.messagebird.configured or providers.voodoosms.configured):
        return False
    if not job_runs.queue_periodic(services, reconciliation.RECONCILE):
        return False
    log.info("reconcile.scheduled")
    return True


def reconcile_job(context: JobContext) -> None:
    """Run one reconciliation and queue the next."""
    reconciliation.reconcile(context.services, context.job, interruptible=context.interruptible)
