"""The link's e-mail job: send the data subject their answer's link (``receiver.usecases.link_email``)."""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.usecases import link_email


def answer_email_job(context: JobContext) -> None:
    """E-mail the job's link once (or raise ``JobFailure``/``JobInterrupted``), then record it and forget the secret."""
    link_email.email_link(context.services, context.job, interruptible=context.interruptible)
