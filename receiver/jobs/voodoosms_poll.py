"""VoodooSMS forget requests have no callback: this job asks ``/gdpr/status`` (``receiver.usecases.forget_polling``)."""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.usecases import forget_polling


def voodoosms_poll_job(context: JobContext) -> None:
    """Ask VoodooSMS once about one forget request and record what it said."""
    forget_polling.poll_forget(context.services, context.job, interruptible=context.interruptible)
