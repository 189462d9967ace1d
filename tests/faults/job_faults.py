"""The service app with job kinds that misbehave, for ``flask --app tests.faults.job_faults worker``.

The real ``flask worker`` command runs the handlers an app carries in
``app.extensions["job_handlers"]`` (``receiver.cli.JOB_HANDLERS``); this app is
``create_app`` from the same environment as ``wsgi``, with the service's own job
kinds and these:

- ``fault_crash``: raises an exception the service does not know, its text quoting
  an archive URL with secrets in its path and query (none of it may reach a log).
- ``fault_kill``: sends SIGKILL to its own process in the middle of the job.
- ``fault_record``: records its result (the job done, its request ``completed``);
  on its first attempt it first writes ``<job id>.ready`` into ``FAULT_CONTROL_DIR``
  and waits for ``<job id>.go``, so that a test can stop the database right then.
- ``fault_ok``: ends its job, and nothing else.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from flask import Flask

from app import create_app as create_service_app
from receiver.cli import JOB_HANDLERS
from receiver.jobs.contract import JobContext, JobInterrupted
from receiver.jobs.worker import default_handlers
from settings import exit_on_config_error
from storage import jobs, lifecycle, registry

CRASH, KILL, RECORD, OK = "fault_crash", "fault_kill", "fault_record", "fault_ok"
SECRET_URL = "https://files.example.test/tok-SECRET123/archive.zip?X-Amz-Signature=sig-SECRET456"
SECRETS = ("tok-SECRET123", "sig-SECRET456")
HANDSHAKE_SECONDS = 60


def crash(context: JobContext) -> None:
    raise LookupError(f"no parser for {SECRET_URL}")


def kill_own_process(context: JobContext) -> None:
    time.sleep(0.2)  # mid-job: the lease taken, the heartbeat running
    os.kill(os.getpid(), signal.SIGKILL)


def record_result(context: JobContext) -> None:
    if context.job.attempts == 1:
        _wait_for_the_test(context.job.id)
    with context.services.database.transaction() as session:
        if not jobs.finish(session, context.job):
            raise JobInterrupted("the lease passed to another worker")
        request = registry.find(session, context.job.request_id or "", for_update=True)
        if request is not None:
            lifecycle.move(request, lifecycle.COMPLETED, reason="recorded by fault_record")


def finish(context: JobContext) -> None:
    with context.services.database.transaction() as session:
        jobs.finish(session, context.job)


def _wait_for_the_test(job_id: int) -> None:
    control = Path(os.environ["FAULT_CONTROL_DIR"])
    (control / f"{job_id}.ready").touch()
    deadline = time.monotonic() + HANDSHAKE_SECONDS
    while not (control / f"{job_id}.go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.05)


def create_app() -> Flask:
    """The factory ``flask --app tests.faults.job_faults`` calls: the service's app with these job kinds too."""
    app = exit_on_config_error(create_service_app)
    app.extensions[JOB_HANDLERS] = {
        **default_handlers(),
        CRASH: crash,
        KILL: kill_own_process,
        RECORD: record_result,
        OK: finish,
    }
    return app
