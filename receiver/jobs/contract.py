"""What a job handler is given and what it may raise: the contract between the loop and the jobs.

The worker loop (``receiver.jobs.worker``) and every job module import this
module, and nothing here imports either of them, so nothing imports in a circle.
The two endings, ``JobFailure`` and ``JobInterrupted``, are declared with the use
cases the jobs call (``receiver.usecases.job_runs``), which raise them too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType

from receiver.services import Services
from receiver.usecases.job_runs import JobFailure as JobFailure  # raised by a job's use case too
from receiver.usecases.job_runs import JobInterrupted as JobInterrupted
from storage.jobs import ClaimedJob


def unexpected_failure(error: Exception, kind: str) -> JobFailure:
    """Any other exception from a handler, as a retryable failure of its job.

    The reason names the exception's type and the line that raised it, never the
    exception's text: that may quote an archive URL, a token, a key or a body.
    """
    return JobFailure(f"unexpected {type(error).__name__} in the {kind} job at {raised_at(error)}", retryable=True)


def raised_at(error: BaseException) -> str:
    """``module:function:line`` of the frame that raised ``error`` (the innermost), or ``unknown``."""
    frames = stack_of(error)
    return frames[-1] if frames else "unknown"


def stack_of(error: BaseException) -> list[str]:
    """``module:function:line`` of each frame ``error`` passed through, outermost first: no values, no text."""
    frames = []
    traceback: TracebackType | None = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        frames.append(f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}:{traceback.tb_lineno}")
        traceback = traceback.tb_next
    return frames


@dataclass
class JobContext:
    """A running job: the services, the claimed job, and the two ways a handler learns to stop."""

    services: Services
    job: ClaimedJob
    #: True once the worker must stop or the lease was lost: abandon with ``JobInterrupted``.
    stop_requested: Callable[[], bool]
    #: A section (a blocking download) that SIGTERM interrupts at once with ``JobInterrupted``.
    interruptible: Callable[[], AbstractContextManager[None]]


Handler = Callable[[JobContext], None]
