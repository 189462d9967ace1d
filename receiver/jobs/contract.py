"""What a job handler is given and what it may raise: the contract between the loop and the jobs.

The worker loop (``receiver.jobs.worker``) and every job module import this
module, and nothing here imports either of them, so nothing imports in a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from receiver.services import Services
from storage.jobs import ClaimedJob


class JobFailure(Exception):
    """A job did not succeed; ``reason`` is readable by ops, ``retryable`` says whether to try again."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class JobInterrupted(Exception):
    """The worker is stopping or lost the lease: give the job back untouched."""


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
