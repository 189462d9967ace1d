"""The archive job: download the ZIP a verified callback pointed at and keep it as evidence.

The steps, and how a failure is told without the archive URL: ``receiver.usecases.archives``.
"""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.usecases import archives


def archive_job(context: JobContext) -> None:
    """Run one archive job from start to finish (or raise ``JobFailure``/``JobInterrupted``)."""
    archives.download_archive(
        context.services, context.job, stop_requested=context.stop_requested, interruptible=context.interruptible
    )
