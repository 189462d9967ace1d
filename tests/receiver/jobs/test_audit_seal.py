"""The periodic audit seal: queued when a worker starts, seals what is new, logs the head, queues the next run."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from receiver.jobs.audit_seal import AUDIT_SEAL
from receiver.jobs.worker import Worker
from storage import audit_chain, jobs
from storage.clock import Clock
from storage.models import Job
from tests.receiver.jobs.alerting import LogCapture
from tests.storage.audit_history import write_history


def seal_jobs(services) -> list[Job]:
    with services.database.transaction() as session:
        return list(session.scalars(select(Job).where(Job.kind == AUDIT_SEAL).order_by(Job.id)))


def test_a_worker_seals_at_start_logs_the_head_and_queues_the_next_seal(services):
    write_history(services.database)
    with LogCapture() as logs:
        Worker(services).run(once=True)
    [logged] = logs.events("audit.chain_head")
    with services.database.reading() as connection:
        head = audit_chain.head(connection)
    assert (logged["seq"], logged["head_hash"], logged["sealed"]) == (14, head.hash, 14)
    done, queued = seal_jobs(services)
    assert (done.state, queued.state) == (jobs.DONE, jobs.QUEUED)
    interval = services.settings.audit_seal_interval_seconds
    assert queued.run_after - Clock().now() > dt.timedelta(seconds=interval - 60)


def test_a_second_worker_start_queues_no_second_seal(services):
    Worker(services).run(once=True)
    Worker(services).run(once=True)
    assert [job.state for job in seal_jobs(services)] == [jobs.DONE, jobs.QUEUED]
