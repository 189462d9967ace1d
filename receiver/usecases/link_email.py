"""E-mailing a link to its subject: the ``answer_email`` job's steps, then the secret and the address erased.

The job's sealed payload is the only place the link's secret and the subject's address
are kept after the link is made; the transaction that records the e-mail sent (the link's
``email_sent_at``, the case's ``link_emailed`` entry) ends the job and erases that payload.
A relay that refuses for now is retried with the worker's backoff; a revoked link is not
sent. Failures name the relay's origin, never the address or the link.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from receiver.notifications import NotifyError
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import subject_links
from receiver.usecases.job_runs import Interruptible, JobFailure, finish
from storage import answers, case_registry
from storage.jobs import ClaimedJob
from storage.models import Job

log = get_logger("receiver.jobs.answer_email")  # the job's log, as its events have always been named

LINK_EMAILED = "link_emailed"


def email_link(services: Services, job: ClaimedJob, *, interruptible: Interruptible) -> None:
    """E-mail the job's link once (or raise ``JobFailure``/``JobInterrupted``), then record it and forget the secret."""
    channel = services.subject_mail
    if channel is None:
        raise JobFailure(
            "e-mail to the subject is not configured any more (SMTP_URL, SUBJECT_EMAIL_FROM)", retryable=False
        )
    payload = json.loads(services.secrets.open(job.payload_sealed or ""))
    now = services.clock.now()
    with services.database.transaction() as session:
        link = answers.find_link(session, payload["linkId"])
        case = case_registry.find(session, link.case_id) if link is not None else None
        if link is None or case is None or link.revoked_at is not None or link.email_sent_at is not None:
            _end(session, job)
            log.info("answer_email.skipped", job_id=job.id, link_id=payload["linkId"])
            return
        message = subject_links.compose_email(
            services, link, case, secret=payload["secret"], recipient=payload["email"], now=now
        )
    try:
        with interruptible():
            channel.deliver(message, (payload["email"],))
    except NotifyError as error:
        raise JobFailure(error.message, retryable=error.retryable) from None
    _record_sent(services, job, payload["linkId"])
    log.info("answer_email.sent", job_id=job.id, link_id=payload["linkId"], via=channel.origin)


def _end(session: Session, job: ClaimedJob) -> None:
    """End the job and erase its payload (the link's secret and the subject's address)."""
    finish(session, job)
    row = session.get(Job, job.id)
    if row is not None:
        row.payload_sealed = None


def _record_sent(services: Services, job: ClaimedJob, link_id: str) -> None:
    with services.database.transaction() as session:
        _end(session, job)
        link = answers.find_link(session, link_id, for_update=True)
        if link is None:
            return
        link.email_sent_at = services.clock.now()
        case = case_registry.find(session, link.case_id, for_update=True)
        if case is not None:
            case_registry.record_event(
                case, actor=case_registry.SERVICE, kind=LINK_EMAILED, changed="link", to_value=link.id
            )
