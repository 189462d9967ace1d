"""The package job: build the subject's ZIP from the case's stored archives (``receiver.usecases.package_build``)."""

from __future__ import annotations

from receiver.jobs.contract import JobContext
from receiver.usecases import package_build


def answer_package_job(context: JobContext) -> None:
    """Build the job's package (or raise ``JobFailure``/``JobInterrupted``)."""
    package_build.build_package(context.services, context.job, stop_requested=context.stop_requested)
