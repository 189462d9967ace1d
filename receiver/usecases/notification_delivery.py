"""Sending one notification on one channel, and recording that it was sent: the ``notify`` job's work.

One job per notification and channel (queued with the notification, in the same
transaction: ``storage.notifications.record``), so a webhook that fails does not hold
up the e-mail, and each is retried with the worker's backoff (5 s doubling to 15 min,
with jitter) until ``WORKER_MAX_ATTEMPTS`` failed attempts or ``WORKER_MAX_AGE_SECONDS``.
A failure's reason (``jobs.last_error``, ``job.retrying``/``job.failed``) is the
channel's ``NotifyError.message``: the failure class and the destination's origin,
never a webhook URL's path or query. The lease keeps two workers from sending the
same delivery at once; a worker that dies after sending and before recording it
leaves the job to run again, and the receiver sees the same ``webhook-id`` twice.
The job carries no request: its failure never touches a processor request.
"""

from __future__ import annotations

from receiver.notifications import NotifyError
from receiver.observability.logs import get_logger
from receiver.observability.metrics import NOTIFICATIONS_FAILED, NOTIFICATIONS_SENT
from receiver.services import Services
from receiver.usecases.job_runs import Interruptible, JobFailure, finish
from storage import jobs, notifications
from storage.jobs import ClaimedJob
from storage.notifications import OutgoingNotification

log = get_logger("receiver.jobs.notify")  # the job's log, as its events have always been named

NOTIFY = notifications.NOTIFY  #: the job kind that sends one delivery


def send_delivery(services: Services, job: ClaimedJob, *, interruptible: Interruptible) -> None:
    """Send the job's delivery once (or raise ``JobFailure``/``JobInterrupted``), then record it sent."""
    delivery = _pending_delivery(services, job)
    if delivery is None:
        return
    channel = services.notifiers.channel(delivery.channel)
    if channel is None:
        raise JobFailure(f"{delivery.channel} notifications are not configured any more", retryable=False)
    try:
        with interruptible():
            channel.send(delivery.notification_id, delivery.type, delivery.payload, now=services.clock.now())
    except NotifyError as error:
        NOTIFICATIONS_FAILED.labels(delivery.type, delivery.channel).inc()
        raise JobFailure(error.message, retryable=error.retryable) from None
    NOTIFICATIONS_SENT.labels(delivery.type, delivery.channel).inc()
    _record_sent(services, job, delivery)
    log.info(
        "notification.sent",
        notification_id=delivery.notification_id,
        type=delivery.type,
        channel=delivery.channel,
        to=channel.origin,
        attempt=job.attempts,
    )


def _pending_delivery(services: Services, job: ClaimedJob) -> OutgoingNotification | None:
    """The job's delivery; None (the job ended) when it is gone or was sent already."""
    with services.database.transaction() as session:
        delivery = notifications.delivery_of_job(session, job.id)
        if delivery is not None and delivery.sent_at is None:
            return delivery
        jobs.finish(session, job)
    log.info("notification.skipped", job_id=job.id, sent=delivery is not None)
    return None


def _record_sent(services: Services, job: ClaimedJob, delivery: OutgoingNotification) -> None:
    with services.database.transaction() as session:
        finish(session, job)
        notifications.mark_sent(session, delivery.id, at=services.clock.now())
