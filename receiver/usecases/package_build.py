"""Building the subject's package: the ``answer_package`` job's steps, its ZIP streamed into the archive store.

    claim job -> the package ``building`` and its case's requests -> ZipWriterStream (each archive copied
    chunk by chunk and checked against its recorded SHA-256) -> ArchiveStream (SHA-256, size,
    PACKAGE_MAX_BYTES, ZIP check) -> store.put -> in ONE transaction: job done + package ``ready`` with
    URI, size, SHA-256 and files + the earlier packages replaced and their links revoked + ``package_built``

The object key is ``packages/<case id>/<package id>.zip``: a retry after a crash writes the
same object again. A package that cannot be built (larger than ``PACKAGE_MAX_BYTES``, an
archive gone or changed since it was stored) is ``failed`` with the reason at once; a store
that cannot be reached is retried with the worker's backoff.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import subject_package
from receiver.usecases.job_runs import JobFailure, JobInterrupted, finish
from storage import answers, case_registry, jobs
from storage.archives import ArchiveStream, StoredArchive
from storage.archives.zipwriter import ZipWriterStream
from storage.errors import StorageError
from storage.jobs import ClaimedJob

log = get_logger("receiver.jobs.answer_package")  # the job's log, as its events have always been named

#: Failures that building again cannot mend.
NOT_RETRYABLE = {
    "too_large": "the package is larger than PACKAGE_MAX_BYTES",
    "changed": "a stored archive is no longer the one recorded",
    "not_found": "a stored archive is missing from the archive store",
    "not_a_zip": "the package written is not a complete ZIP",
}


def build_package(services: Services, job: ClaimedJob, *, stop_requested: Callable[[], bool]) -> None:
    """Build the job's package (or raise ``JobFailure``/``JobInterrupted``)."""
    package_id = json.loads(services.secrets.open(job.payload_sealed or ""))["packageId"]
    plan = _plan(services, job, package_id)
    if plan is None:
        return
    case_id, contents = plan
    try:
        stored = _write(services, case_id, package_id, contents, stop_requested)
    except StorageError as error:
        if error.reason not in NOT_RETRYABLE:
            raise JobFailure(f"archive store {error.reason}: {error.message}", retryable=error.retryable) from None
        _fail(services, job, package_id, NOT_RETRYABLE[error.reason])
        return
    _complete(services, job, package_id, stored, contents.files)


def _plan(services: Services, job: ClaimedJob, package_id: str) -> tuple[str, subject_package.Contents] | None:
    settings = services.settings
    with services.database.transaction() as session:
        package = answers.find_package(session, package_id)
        if package is None or package.state != answers.BUILDING:
            jobs.finish(session, job)
            log.info("package.skipped", job_id=job.id, package_id=package_id)
            return None
        case = case_registry.find(session, package.case_id)
        assert case is not None  # the package's foreign key keeps it
        contents = subject_package.package_contents(
            case,
            case_registry.requests_of(session, case.id),
            store=services.archive_store,
            controller=(settings.controller_name or "", settings.controller_contact or ""),
            language=settings.subject_default_language,
            built_at=services.clock.now(),
        )
        return case.id, contents


def _write(
    services: Services,
    case_id: str,
    package_id: str,
    contents: subject_package.Contents,
    stop_requested: Callable[[], bool],
) -> StoredArchive:
    source = _StopAware(ZipWriterStream(contents.entries), stop_requested)
    stream = ArchiveStream(source, max_bytes=services.settings.package_max_bytes)
    metadata = {"case-id": case_id, "package-id": package_id}
    return services.archive_store.put(f"packages/{case_id}/{package_id}.zip", stream, metadata=metadata)


def _fail(services: Services, job: ClaimedJob, package_id: str, reason: str) -> None:
    with services.database.transaction() as session:
        finish(session, job)
        package = answers.find_package(session, package_id, for_update=True)
        if package is not None and package.state == answers.BUILDING:
            answers.mark_failed(package, reason)
    log.warning("package.failed", job_id=job.id, package_id=package_id, reason=reason)


def _complete(
    services: Services, job: ClaimedJob, package_id: str, stored: StoredArchive, files: list[answers.PackageFile]
) -> None:
    """Record the package built, replace the earlier ones and revoke their links, and end the job: all or nothing."""
    with services.database.transaction() as session:
        finish(session, job)
        package = answers.find_package(session, package_id, for_update=True)
        if package is None or package.state != answers.BUILDING:
            return
        revoked = answers.mark_ready(
            session,
            package,
            uri=stored.uri,
            size=stored.size,
            sha256=stored.sha256,
            version_id=stored.version_id,
            files=files,
            at=stored.stored_at,
        )
        case = case_registry.find(session, package.case_id, for_update=True)
        assert case is not None
        note = f"{package_id}: {len(files)} files, {stored.size} bytes"
        if revoked:
            note += f"; the earlier package replaced and its {len(revoked)} link(s) revoked ({', '.join(revoked)})"
        case_registry.record_event(
            case,
            actor=package.requested_by,
            kind=subject_package.PACKAGE_BUILT,
            changed="package",
            to_value=stored.sha256,
            reason=note,
        )
    log.info(
        "package.built",
        job_id=job.id,
        package_id=package_id,
        bytes=stored.size,
        sha256=stored.sha256,
        files=len(files),
        links_revoked=len(revoked),
    )


class _StopAware:
    """Passes reads through until the worker must stop or loses its lease."""

    def __init__(self, source: Any, stop_requested: Callable[[], bool]) -> None:
        self._source = source
        self._stop_requested = stop_requested

    def read(self, size: int = -1, /) -> bytes:
        if self._stop_requested():
            raise JobInterrupted("worker stopping")
        return self._source.read(size)
