"""The durable job queue: jobs live beside the requests, claimed by one worker at a time.

A worker claims a job with a lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``;
SQLite: the write transaction itself, begun IMMEDIATE). A worker that dies keeps
its lease until it expires, then another worker claims the job again. Every
function that ends a job checks the caller still holds the lease, so a worker
whose lease was taken over cannot overwrite the newer owner's result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.clock import utcnow
from storage.models import Job

ARCHIVE = "archive"
RECONCILE = "reconcile"  #: periodic: compare MessageBird's listing with ours
VOODOOSMS_POLL = "voodoosms_poll"  #: one per forget request: ask VoodooSMS for its status

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds the lease on, detached from any session."""

    id: int
    kind: str
    request_id: str | None
    callback_id: int | None
    payload_sealed: str | None
    attempts: int
    created_at: dt.datetime
    owner: str


def enqueue(
    session: Session,
    *,
    kind: str,
    request_id: str | None,
    callback_id: int | None = None,
    payload_sealed: str | None = None,
    run_after: dt.datetime | None = None,
) -> Job:
    now = utcnow()
    job = Job(
        kind=kind,
        request_id=request_id,
        callback_id=callback_id,
        payload_sealed=payload_sealed,
        state=QUEUED,
        attempts=0,
        run_after=run_after or now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job


def claim_next(
    session: Session, *, owner: str, lease_seconds: int, now: dt.datetime | None = None
) -> ClaimedJob | None:
    """Take the lease on the next due job (queued and due, or running with an expired lease)."""
    now = now or utcnow()
    due = or_(
        and_(Job.state == QUEUED, Job.run_after <= now),
        and_(Job.state == RUNNING, Job.lease_expires_at < now),
    )
    statement = select(Job).where(due).order_by(Job.run_after, Job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    job = session.scalars(statement).first()
    if job is None:
        return None
    job.state = RUNNING
    job.lease_owner = owner
    job.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
    job.attempts += 1
    job.updated_at = now
    session.flush()
    return ClaimedJob(
        job.id, job.kind, job.request_id, job.callback_id, job.payload_sealed, job.attempts, job.created_at, owner
    )


def extend_lease(session: Session, job: ClaimedJob, *, lease_seconds: int) -> bool:
    """Push the lease forward; False when the caller no longer holds it."""
    until = utcnow() + dt.timedelta(seconds=lease_seconds)
    return _update_held(session, job, lease_expires_at=until)


def finish(session: Session, job: ClaimedJob) -> bool:
    """Mark the job done; False when the caller no longer holds the lease."""
    return _update_held(session, job, state=DONE, lease_owner=None, lease_expires_at=None, last_error=None)


def retry_later(session: Session, job: ClaimedJob, *, run_after: dt.datetime, error: str) -> bool:
    """Give the job back to the queue, due again at ``run_after``."""
    return _update_held(
        session, job, state=QUEUED, run_after=run_after, lease_owner=None, lease_expires_at=None, last_error=error
    )


def reschedule(session: Session, job: ClaimedJob, *, run_after: dt.datetime, note: str | None = None) -> bool:
    """Queue the job again at ``run_after`` as planned work, not a failure (status polling)."""
    return _update_held(
        session, job, state=QUEUED, run_after=run_after, lease_owner=None, lease_expires_at=None, last_error=note
    )


def pending_count(session: Session, kind: str) -> int:
    """How many jobs of ``kind`` are queued or running."""
    return session.scalar(select(func.count(Job.id)).where(Job.kind == kind, Job.state.in_([QUEUED, RUNNING]))) or 0


def queued_by(session: Session, kind: str, at: dt.datetime) -> bool:
    """Whether a job of ``kind`` is queued to run no later than ``at``."""
    due = and_(Job.kind == kind, Job.state == QUEUED, Job.run_after <= at)
    return bool(session.scalar(select(func.count(Job.id)).where(due)))


def give_up(session: Session, job: ClaimedJob, *, error: str) -> bool:
    return _update_held(session, job, state=FAILED, lease_owner=None, lease_expires_at=None, last_error=error)


def release(session: Session, job: ClaimedJob) -> bool:
    """Hand the job back untouched (graceful shutdown): due now, this attempt not counted."""
    return _update_held(
        session,
        job,
        state=QUEUED,
        run_after=utcnow(),
        lease_owner=None,
        lease_expires_at=None,
        attempts=Job.attempts - 1,
    )


def requeue_for(session: Session, request_id: str, *, kind: str = ARCHIVE) -> Job | None:
    """Queue a request's newest job of ``kind`` again, from its first attempt (ops' retry)."""
    job = session.scalars(
        select(Job).where(Job.request_id == request_id, Job.kind == kind).order_by(Job.id.desc()).limit(1)
    ).first()
    if job is None or job.state in {QUEUED, RUNNING}:
        return job
    now = utcnow()
    job.state, job.attempts, job.run_after, job.created_at = QUEUED, 0, now, now
    job.lease_owner = job.lease_expires_at = job.last_error = None
    job.updated_at = now
    session.flush()
    return job


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_created_at: dt.datetime | None


def queue_stats(session: Session) -> QueueStats:
    depth, oldest = session.execute(
        select(func.count(Job.id), func.min(Job.created_at)).where(Job.state.in_([QUEUED, RUNNING]))
    ).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return QueueStats(depth, oldest)


def _update_held(session: Session, job: ClaimedJob, **values: object) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.lease_owner == job.owner, Job.state == RUNNING)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
