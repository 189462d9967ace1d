"""The durable job queue: jobs live beside the requests, claimed by one worker at a time.

A worker claims a job with a lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``;
SQLite: the write transaction itself, begun IMMEDIATE). A worker that dies keeps
its lease until it expires, then another worker claims the job again. Every
function that ends a job checks the caller still holds the lease, so a worker
whose lease was taken over cannot overwrite the newer owner's result.

``failures`` counts the attempts in a row that ended without a result: a handled
failure (``retry_later``, ``give_up``) or an attempt whose lease expired (its
worker died, or lost the database while recording). ``attempts`` counts every
claim, planned polls included, so the limits on retries and on poison jobs are
on ``failures``. A job whose lease expired on the attempt that used up its
failures is never handed out again: ``fail_poison`` fails it instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.clock import clock_of
from storage.db import rows_changed
from storage.models import Job

ARCHIVE = "archive"
RECONCILE = "reconcile"  #: periodic: compare MessageBird's listing with ours
VOODOOSMS_POLL = "voodoosms_poll"  #: one per forget request: ask VoodooSMS for its status
RETENTION = "retention"  #: periodic: delete and erase what the retention policy says is due

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
    #: Attempts in a row before this one that ended without a result.
    failures: int = 0


@dataclass(frozen=True)
class PoisonJob:
    """A job failed because its worker died (or lost the database) on each attempt it was allowed."""

    id: int
    kind: str
    request_id: str | None
    attempts: int
    reason: str


def enqueue(
    session: Session,
    *,
    kind: str,
    request_id: str | None,
    callback_id: int | None = None,
    payload_sealed: str | None = None,
    run_after: dt.datetime | None = None,
) -> Job:
    now = clock_of(session).now()
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
    session: Session, *, owner: str, lease_seconds: int, max_failures: int, now: dt.datetime | None = None
) -> ClaimedJob | None:
    """Take the lease on the next due job (queued and due, or running with an expired lease).

    Taking over an expired lease counts a failure for the attempt that held it; a
    job for which that would be failure number ``max_failures`` is not handed out
    (``fail_poison`` ends it).
    """
    now = now or clock_of(session).now()
    due = or_(
        and_(Job.state == QUEUED, Job.run_after <= now),
        and_(_lease_expired(now), Job.failures + 1 < max_failures),
    )
    job = session.scalars(_locked(session, select(Job).where(due).order_by(Job.run_after, Job.id).limit(1))).first()
    if job is None:
        return None
    if job.state == RUNNING:
        job.failures += 1
        job.last_error = f"attempt {job.attempts} ended without a result: {_WORKER_GONE}"
    job.state = RUNNING
    job.lease_owner = owner
    job.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
    job.attempts += 1
    job.updated_at = now
    session.flush()
    return ClaimedJob(
        job.id,
        job.kind,
        job.request_id,
        job.callback_id,
        job.payload_sealed,
        job.attempts,
        job.created_at,
        owner,
        job.failures,
    )


def fail_poison(session: Session, *, max_failures: int, now: dt.datetime | None = None) -> list[PoisonJob]:
    """Fail every job whose expired lease is its failure number ``max_failures``; what was failed.

    Such a job ends its worker (a crash, ``os._exit``, the OOM killer) or outlives
    the database on every attempt: handing it out again would only end the next
    worker too.
    """
    now = now or clock_of(session).now()
    statement = select(Job).where(_lease_expired(now), Job.failures + 1 >= max_failures).order_by(Job.id)
    poisoned = []
    for job in session.scalars(_locked(session, statement)):
        reason = (
            f"poison job: {_WORKER_GONE} during attempt {job.attempts}, "
            f"{job.failures + 1} failed attempts in a row, the limit"
        )
        job.state, job.failures, job.last_error, job.updated_at = FAILED, job.failures + 1, reason, now
        job.lease_owner = job.lease_expires_at = None
        poisoned.append(PoisonJob(job.id, job.kind, job.request_id, job.attempts, reason))
    session.flush()
    return poisoned


_WORKER_GONE = "the worker died or lost the database (its lease expired)"


def _lease_expired(now: dt.datetime) -> ColumnElement[bool]:
    return and_(Job.state == RUNNING, Job.lease_expires_at < now)


def _locked(session: Session, statement: Select[Job]) -> Select[Job]:
    """On PostgreSQL, rows locked by another worker are skipped (SQLite's write transaction serialises)."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


def extend_lease(session: Session, job: ClaimedJob, *, lease_seconds: int) -> bool:
    """Push the lease forward; False when the caller no longer holds it."""
    until = clock_of(session).now() + dt.timedelta(seconds=lease_seconds)
    return _update_held(session, job, lease_expires_at=until)


def finish(session: Session, job: ClaimedJob) -> bool:
    """Mark the job done; False when the caller no longer holds the lease."""
    return _update_held(session, job, state=DONE, lease_owner=None, lease_expires_at=None, last_error=None)


def retry_later(session: Session, job: ClaimedJob, *, run_after: dt.datetime, error: str) -> bool:
    """Give the job back to the queue after a failed attempt, due again at ``run_after``."""
    return _update_held(
        session,
        job,
        state=QUEUED,
        run_after=run_after,
        lease_owner=None,
        lease_expires_at=None,
        last_error=error,
        failures=Job.failures + 1,
    )


def reschedule(session: Session, job: ClaimedJob, *, run_after: dt.datetime, note: str | None = None) -> bool:
    """Queue the job again at ``run_after`` as planned work, not a failure (status polling): failures start over."""
    return _update_held(
        session,
        job,
        state=QUEUED,
        run_after=run_after,
        lease_owner=None,
        lease_expires_at=None,
        last_error=note,
        failures=0,
    )


def enqueue_periodic(session: Session, kind: str, *, run_after: dt.datetime | None = None) -> bool:
    """Queue the next run of a periodic job (one of no request), unless one is queued or running already:
    several workers queueing it at once leave one, so duplicates die out. Whether it was queued."""
    if pending_count(session, kind):
        return False
    enqueue(session, kind=kind, request_id=None, run_after=run_after)
    return True


def pending_count(session: Session, kind: str) -> int:
    """How many jobs of ``kind`` are queued or running."""
    return session.scalar(select(func.count(Job.id)).where(Job.kind == kind, Job.state.in_([QUEUED, RUNNING]))) or 0


def queued_by(session: Session, kind: str, at: dt.datetime) -> bool:
    """Whether a job of ``kind`` is queued to run no later than ``at``."""
    due = and_(Job.kind == kind, Job.state == QUEUED, Job.run_after <= at)
    return bool(session.scalar(select(func.count(Job.id)).where(due)))


def give_up(session: Session, job: ClaimedJob, *, error: str) -> bool:
    """End the job as ``failed`` with ``error``; False when the caller no longer holds the lease."""
    return _update_held(
        session,
        job,
        state=FAILED,
        lease_owner=None,
        lease_expires_at=None,
        last_error=error,
        failures=Job.failures + 1,
    )


def release(session: Session, job: ClaimedJob) -> bool:
    """Hand the job back untouched (graceful shutdown): due now, this attempt not counted."""
    return _update_held(
        session,
        job,
        state=QUEUED,
        run_after=clock_of(session).now(),
        lease_owner=None,
        lease_expires_at=None,
        attempts=Job.attempts - 1,
    )


def latest_of(connection: Connection, request_id: str, *, kind: str) -> Job | None:
    """A request's newest job of ``kind`` (detached: read only), or None."""
    row = connection.execute(
        select(Job.__table__).where(Job.request_id == request_id, Job.kind == kind).order_by(Job.id.desc()).limit(1)
    ).first()
    return Job(**row._mapping) if row is not None else None


def requeue_for(
    session: Session, request_id: str, *, kind: str = ARCHIVE, payload_sealed: str | None = None
) -> Job | None:
    """Queue a request's newest job of ``kind`` again, from its first attempt (ops' retry), with a new
    payload when one is given."""
    job = session.scalars(
        select(Job).where(Job.request_id == request_id, Job.kind == kind).order_by(Job.id.desc()).limit(1)
    ).first()
    if job is None or job.state in {QUEUED, RUNNING}:
        return job
    now = clock_of(session).now()
    job.state, job.attempts, job.failures, job.run_after, job.created_at = QUEUED, 0, 0, now, now
    job.lease_owner = job.lease_expires_at = job.last_error = None
    job.payload_sealed = payload_sealed or job.payload_sealed
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


def last_ended(connection: Connection, kind: str) -> Job | None:
    """The job of ``kind`` that ended last, done or failed (detached: read only), or None: the last reconciliation."""
    row = connection.execute(
        select(Job.__table__)
        .where(Job.kind == kind, Job.state.in_([DONE, FAILED]))
        .order_by(Job.updated_at.desc(), Job.id.desc())
        .limit(1)
    ).first()
    return Job(**row._mapping) if row is not None else None


def _update_held(session: Session, job: ClaimedJob, **values: object) -> bool:
    statement = (
        update(Job)
        .where(Job.id == job.id, Job.lease_owner == job.owner, Job.state == RUNNING)
        .values(updated_at=clock_of(session).now(), **values)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(session, statement) == 1
