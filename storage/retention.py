"""Retention in storage: which archives may be deleted, the receipt of each deletion, and the erasures
and purges of the other classes of data, each in the caller's transaction.

What is kept and for how long is the use case's (``receiver.usecases.retention``); this module
finds the rows, decides on each one as it stands locked, and changes it.

Archives. ``live_archives`` lists every stored archive not yet deleted with what its fate
depends on, and ``archive_verdict`` (pure) says whether it is due or why it is kept. The object
store is outside the database's transactions, so deleting one takes three steps:

1. ``claim_archive``: the case's row, then the request's, are locked, the verdict is taken again
   on them as they stand, and the request is marked ``archive_deletion_started_at``. A legal hold
   locks the same case row: it comes either before the claim (the archive is kept) or after it
   (and names the archive as already being deleted).
2. The store lists every version, and ``keep_listed_versions`` keeps the listing with the claim
   (added to any an earlier run kept); then the store deletes every version, outside any
   transaction, so a slow store holds no lock.
3. ``record_deletion`` writes the receipt (every version listed with the claim, and any the
   deletion found besides) and an ``archive_deleted`` request event; when the store failed,
   ``release_claim`` clears the mark for the next run and keeps the listing.

A claim older than ``CLAIM_SECONDS`` belongs to a run that ended between steps 1 and 3 (its
process killed): the next run takes it over and deletes what is left. Its receipt still names
what the dead run removed: the listing kept with the claim.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Exists, case, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from storage import case_registry, jobs, lifecycle, notifications, raw_inputs, registry
from storage.archives import DeletedArchive, DeletedVersion
from storage.db import rows_changed
from storage.models import Callback, Case, Job, ProcessorRequest

#: A claim this old was left by a run that died mid-deletion; another run takes it over.
CLAIM_SECONDS = 900
#: The request event every deletion adds to the request's history.
ARCHIVE_DELETED = "archive_deleted"
#: Job kinds whose finished rows are referred to, hence kept: a notification's job is its delivery's record.
REFERENCED_JOB_KINDS = (notifications.NOTIFY,)

# Why an archive is kept, as the retention run reports it.
KEPT_HELD = "legal hold"
KEPT_CASE_OPEN = "case open"
KEPT_NOT_YET = "retention period not over"
KEPT_DOWNLOADING = "download in flight"
KEPT_BEING_DELETED = "being deleted by another run"
KEPT_NOT_COMPLETED = "request not completed"


@dataclass(frozen=True)
class LiveArchive:
    """A stored archive not yet deleted, and what its fate depends on."""

    request_id: str
    uri: str
    state: str
    completed_at: dt.datetime | None
    case_id: str | None
    case_closed_at: dt.datetime | None
    held_since: dt.datetime | None
    deletion_started_at: dt.datetime | None
    downloading: bool


@dataclass(frozen=True)
class Verdict:
    """``kept_because`` None: due for deletion. ``since``/``basis``: when and what started its retention clock."""

    kept_because: str | None
    since: dt.datetime | None = None
    basis: str | None = None

    @property
    def due(self) -> bool:
        return self.kept_because is None


def archive_verdict(archive: LiveArchive, *, retention: dt.timedelta, now: dt.datetime) -> Verdict:
    """Whether ``archive`` is due for deletion on ``now``, or why it is kept.

    The clock starts when the case is closed, or, for a request outside any case, when the
    request completed; an archive that arrived after its case was closed (closed with an
    override while a request was running) counts from its arrival, so it is never deleted
    moments after it was stored. A legal hold keeps it whatever the clock says.
    """
    if archive.held_since is not None:
        return Verdict(KEPT_HELD)
    if archive.case_id is not None and archive.case_closed_at is None:
        return Verdict(KEPT_CASE_OPEN)
    if archive.state != lifecycle.COMPLETED or archive.completed_at is None:
        return Verdict(KEPT_NOT_COMPLETED)
    since, basis = archive.completed_at, "request completed"
    if archive.case_id is not None and archive.case_closed_at is not None and archive.case_closed_at >= since:
        since, basis = archive.case_closed_at, f"case {archive.case_id} closed"
    elif archive.case_id is not None:
        basis = f"request completed after case {archive.case_id} closed"
    if since + retention > now:
        return Verdict(KEPT_NOT_YET, since, basis)
    if archive.downloading:
        return Verdict(KEPT_DOWNLOADING, since, basis)
    claimed = archive.deletion_started_at
    if claimed is not None and claimed + dt.timedelta(seconds=CLAIM_SECONDS) > now:
        return Verdict(KEPT_BEING_DELETED, since, basis)
    return Verdict(None, since, basis)


def _downloading() -> Exists:
    return exists().where(
        Job.request_id == ProcessorRequest.id, Job.kind == jobs.ARCHIVE, Job.state.in_([jobs.QUEUED, jobs.RUNNING])
    )


def _live_archive_columns() -> tuple[Any, ...]:
    return (
        ProcessorRequest.id,
        ProcessorRequest.archive_uri,
        ProcessorRequest.state,
        ProcessorRequest.completed_at,
        ProcessorRequest.case_id,
        Case.closed_at,
        Case.legal_hold_since,
        ProcessorRequest.archive_deletion_started_at,
        _downloading().label("downloading"),
    )


def live_archives(connection: Session | Connection) -> list[LiveArchive]:
    """Every stored archive not yet deleted, oldest completion first."""
    statement = (
        select(*_live_archive_columns())
        .outerjoin(Case, Case.id == ProcessorRequest.case_id)
        .where(ProcessorRequest.archive_uri.is_not(None), ProcessorRequest.archive_deleted_at.is_(None))
        .order_by(ProcessorRequest.completed_at, ProcessorRequest.id)
    )
    return [LiveArchive(*row) for row in connection.execute(statement)]


def claim_archive(
    session: Session, request_id: str, *, retention: dt.timedelta, now: dt.datetime
) -> tuple[LiveArchive | None, Verdict]:
    """Lock the case and the request, take the verdict again, and mark the archive as being deleted if due.

    Returns the archive as it stands locked (None when it is deleted or gone) and the verdict.
    """
    case_id = session.scalar(select(ProcessorRequest.case_id).where(ProcessorRequest.id == request_id))
    if case_id is not None:
        case_registry.find(
            session, case_id, for_update=True
        )  # the case before the request: the order a legal hold takes
    request = registry.find(session, request_id, for_update=True)
    if request is None or request.archive_uri is None or request.archive_deleted_at is not None:
        return None, Verdict(KEPT_NOT_COMPLETED)
    archive = session.execute(
        select(*_live_archive_columns())
        .outerjoin(Case, Case.id == ProcessorRequest.case_id)
        .where(ProcessorRequest.id == request_id)
        .execution_options(populate_existing=True)
    ).one()
    found = LiveArchive(*archive)
    verdict = archive_verdict(found, retention=retention, now=now)
    if verdict.due:
        request.archive_deletion_started_at = now
    return found, verdict


def keep_listed_versions(session: Session, request_id: str, listed: Collection[DeletedVersion]) -> None:
    """Keep what the store listed with the claim, before anything is deleted, beside what an earlier run kept.

    Until the receipt is written (``archive_deleted_at``), ``archive_deleted_versions`` holds this listing.
    """
    request = registry.find(session, request_id, for_update=True)
    if request is None or request.archive_deleted_at is not None:
        return
    request.archive_deleted_versions = _versions_json(_union(_kept_versions(request), listed))


def record_deletion(
    session: Session, request_id: str, deleted: DeletedArchive, *, actor: str, policy: str, at: dt.datetime
) -> DeletedArchive:
    """Write the deletion receipt on the request and an ``archive_deleted`` event to its history, and erase the
    raw signed inputs its callbacks kept (``storage.raw_inputs``): they go with the archive's retention.

    The receipt lists every version kept with the claim (``keep_listed_versions``: a run that died after
    the store deleted them listed them first) and every version this deletion found; returned as deleted.
    """
    request = registry.find(session, request_id, for_update=True)
    assert request is not None  # requests are never deleted
    removed = DeletedArchive(deleted.uri, _union(_kept_versions(request), deleted.versions))
    request.archive_deleted_at = at
    request.archive_deleted_by = actor[:64]
    request.archive_deletion_policy = policy
    request.archive_deleted_versions = _versions_json(removed.versions)
    request.archive_deletion_started_at = None
    erased = raw_inputs.erase_raw_inputs(session, request_id)
    note = (
        f"{policy}; the store removed {len(removed.versions)} version(s), {removed.data_bytes} bytes; "
        f"the raw inputs of {erased} callback(s) erased"
    )
    registry.record_event(session, request_id, kind=ARCHIVE_DELETED, actor=actor[:64], note=note)
    return removed


def _kept_versions(request: ProcessorRequest) -> tuple[DeletedVersion, ...]:
    kept = json.loads(request.archive_deleted_versions or "[]")
    return tuple(DeletedVersion(v["versionId"], v["bytes"], v["deleteMarker"], v["partial"]) for v in kept)


def _union(first: Iterable[DeletedVersion], second: Iterable[DeletedVersion]) -> tuple[DeletedVersion, ...]:
    """Both listings, each version once, in the order first seen."""
    return tuple(dict.fromkeys([*first, *second]))


def _versions_json(versions: Iterable[DeletedVersion]) -> str:
    return json.dumps(
        [
            {"versionId": v.version_id, "bytes": v.size, "deleteMarker": v.delete_marker, "partial": v.partial}
            for v in versions
        ]
    )


def release_claim(session: Session, request_id: str) -> None:
    """Clear a claim whose deletion failed, so the next run tries again at once."""
    session.execute(
        update(ProcessorRequest)
        .where(ProcessorRequest.id == request_id, ProcessorRequest.archive_deleted_at.is_(None))
        .values(archive_deletion_started_at=None)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class EndedWithoutArchive:
    """A request that ended without storing an archive, whose callbacks still keep their raw inputs."""

    request_id: str
    state: str
    ended_at: dt.datetime


def ended_without_archive(
    session: Session, *, ended_before: dt.datetime, limit: int = 500
) -> list[EndedWithoutArchive]:
    """Up to ``limit`` requests that failed, or completed without an archive, before ``ended_before``, whose
    callbacks keep raw inputs (with the archive URL inside), not in a case under a legal hold and with no
    job queued or running; locked (on PostgreSQL one a callback holds now is skipped: the next run takes it).
    """
    ended_at = case(
        (ProcessorRequest.state == lifecycle.FAILED, ProcessorRequest.failed_at), else_=ProcessorRequest.completed_at
    )
    ended = or_(
        (ProcessorRequest.state == lifecycle.COMPLETED) & (ProcessorRequest.completed_at < ended_before),
        (ProcessorRequest.state == lifecycle.FAILED) & (ProcessorRequest.failed_at < ended_before),
    )
    kept_inputs = exists().where(Callback.request_id == ProcessorRequest.id, Callback.raw_inputs_sealed.is_not(None))
    held = exists().where(Case.id == ProcessorRequest.case_id, Case.legal_hold_since.is_not(None))
    busy = exists().where(Job.request_id == ProcessorRequest.id, Job.state.in_([jobs.QUEUED, jobs.RUNNING]))
    statement = (
        select(ProcessorRequest.id, ProcessorRequest.state, ended_at)
        .where(ProcessorRequest.archive_uri.is_(None), ended, kept_inputs, ~held, ~busy)
        .order_by(ProcessorRequest.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=ProcessorRequest, skip_locked=True)
    return [EndedWithoutArchive(*row) for row in session.execute(statement)]


def erase_raw_inputs_without_archive(session: Session, ended: EndedWithoutArchive, *, actor: str, policy: str) -> int:
    """Erase the request's callbacks' raw inputs, with the history entry an archive's deletion writes; how many."""
    erased = raw_inputs.erase_raw_inputs(session, ended.request_id)
    note = f"{policy}; no archive was stored; the raw inputs of {erased} callback(s) erased"
    registry.record_event(session, ended.request_id, kind=ARCHIVE_DELETED, actor=actor[:64], note=note)
    return erased


@dataclass(frozen=True)
class CaseArchive:
    """Where the archive of one request of a case stands (for a legal hold's answer)."""

    request_id: str
    deleted_at: dt.datetime | None
    deletion_started_at: dt.datetime | None


def case_archives(session: Session, case_id: str) -> list[CaseArchive]:
    """The case's requests that have (or had) an archive, oldest first."""
    statement = select(
        ProcessorRequest.id, ProcessorRequest.archive_deleted_at, ProcessorRequest.archive_deletion_started_at
    ).where(ProcessorRequest.case_id == case_id, ProcessorRequest.archive_uri.is_not(None))
    return [CaseArchive(*row) for row in session.execute(statement.order_by(ProcessorRequest.created_at))]


# -- the other classes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    """What ``erase_request_secrets`` erased: signature keys, sealed archive URLs (archive jobs' payloads)."""

    signature_keys: int = 0
    archive_urls: int = 0


def requests_with_secrets_due(session: Session, *, ended_before: dt.datetime, limit: int = 500) -> list[str]:
    """Up to ``limit`` requests not yet erased that ended (completed, or failed) before ``ended_before`` and
    have no job queued or running, locked. On PostgreSQL a request a callback holds right now is skipped
    (``SKIP LOCKED``) and taken by the next run.
    """
    ended = or_(
        (ProcessorRequest.state == lifecycle.COMPLETED) & (ProcessorRequest.completed_at < ended_before),
        (ProcessorRequest.state == lifecycle.FAILED) & (ProcessorRequest.failed_at < ended_before),
    )
    busy = exists().where(Job.request_id == ProcessorRequest.id, Job.state.in_([jobs.QUEUED, jobs.RUNNING]))
    statement = (
        select(ProcessorRequest.id)
        .where(ProcessorRequest.secrets_erased_at.is_(None), ended, ~busy)
        .order_by(ProcessorRequest.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(session.scalars(statement))


def erase_request_secrets(session: Session, request_ids: Collection[str], *, now: dt.datetime) -> Erased:
    """Erase the signature key and the archive jobs' sealed URLs of ``request_ids`` and mark them erased."""
    ids = list(request_ids)
    if not ids:
        return Erased()
    keys = rows_changed(
        session,
        update(ProcessorRequest)
        .where(ProcessorRequest.id.in_(ids), ProcessorRequest.signature_key_sealed.is_not(None))
        .values(signature_key_sealed=None)
        .execution_options(synchronize_session=False),
    )
    session.execute(
        update(ProcessorRequest)
        .where(ProcessorRequest.id.in_(ids))
        .values(secrets_erased_at=now)
        .execution_options(synchronize_session=False)
    )
    urls = rows_changed(
        session,
        update(Job)
        .where(Job.request_id.in_(ids), Job.payload_sealed.is_not(None))
        .values(payload_sealed=None)
        .execution_options(synchronize_session=False),
    )
    return Erased(keys, urls)


def purge_finished_jobs(session: Session, *, finished_before: dt.datetime) -> int:
    """Delete the done and failed jobs last changed before ``finished_before``; how many.

    Not a notification's job (its delivery's record refers to it), and a request's jobs only
    once its secrets were erased: until then a failed download's job is what ops' retry and
    reconciliation start again from.
    """
    erased = select(ProcessorRequest.id).where(ProcessorRequest.secrets_erased_at.is_not(None))
    statement = delete(Job).where(
        Job.kind.not_in(REFERENCED_JOB_KINDS),
        Job.state.in_([jobs.DONE, jobs.FAILED]),
        Job.updated_at < finished_before,
        or_(Job.request_id.is_(None), Job.request_id.in_(erased)),
    )
    return rows_changed(session, statement.execution_options(synchronize_session=False))


def forget_client_addresses(session: Session, *, received_before: dt.datetime) -> int:
    """Clear the client address of the callbacks received before ``received_before``; how many.

    The address is not part of the audit chain's encoding: the row keeps its version.
    """
    statement = update(Callback).where(Callback.received_at < received_before, Callback.remote_addr.is_not(None))
    values = {"remote_addr": None, "row_version": Callback.row_version}
    return rows_changed(session, statement.values(values).execution_options(synchronize_session=False))
