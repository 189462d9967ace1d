"""The notify job: send one notification on one channel (``receiver.usecases.notification_delivery``)."""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.usecases import notification_delivery

NOTIFY = notification_delivery.NOTIFY


def notify_job(context: JobContext) -> None:
    """Send the job's delivery once (or raise ``JobFailure``/``JobInterrupted``), then record it sent."""
    notification_delivery.send_delivery(context.services, context.job, interruptible=context.interruptible)
