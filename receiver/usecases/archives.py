"""A request's archive: the archive job's download, what ops do with it (queue it again, fetch what is stored).

The archive job (``download_archive``): claim -> request ``archiving`` -> ``open_archive``
(SSRF-safe HTTPS) -> ``ArchiveStream`` (SHA-256, byte limit, ZIP check) -> ``store.put``
(S3 multipart or file) -> in ONE transaction: job done + request ``completed`` with URI,
size, SHA-256, version. The object key is ``<provider>/<request id>.zip``: a retry after a
crash overwrites the same object. The archive URL is a bearer secret, unsealed from the
job's payload and handed to ``open_archive`` only; a failure's reason is
``FetchError.message``: the failure class and the URL's origin, never its path or query.

Ops' retry and download name their actor: a retry is a transition of the request, a
download an ``archive_downloaded`` event, recorded before the archive is handed out.
When the stored URL was refused as expired or gone (HTTP 401, 403, 404 or 410), the
retry first asks MessageBird's listing for the request's current ``dataArchiveUrl``
and downloads from that instead; it refuses (409) when the listing has none or only
the same URL again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from receiver.fetching import FetchError, open_archive
from receiver.observability.logs import get_logger
from receiver.observability.metrics import ARCHIVE_BYTES, ARCHIVE_SECONDS
from receiver.providers import ProviderError
from receiver.services import Services
from receiver.usecases import records
from receiver.usecases.answers import RequestRecord, iso_time
from receiver.usecases.errors import UseCaseError
from receiver.usecases.job_runs import Interruptible, JobFailure, JobInterrupted, finish
from storage import jobs, lifecycle, registry
from storage.archives import ArchiveStream, StoredArchive
from storage.archives.stream import Readable
from storage.errors import StorageError
from storage.jobs import ClaimedJob
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.archive")  # the job's log, as its events have always been named

ARCHIVE_DOWNLOADED = "archive_downloaded"
NOT_RETRYABLE_STORAGE = {"not_a_zip": "not a zip", "too_large": "archive larger than ARCHIVE_MAX_BYTES"}
#: How a failed download's reason names an archive URL that no longer works (``http_404 at https://host``).
_EXPIRED_URL = re.compile(r"\bhttp_(401|403|404|410)\b")


def retry_archive(services: Services, request_id: str, *, actor: str) -> RequestRecord:
    """Queue a failed request's archive download again (``POST /api/requests/<id>/retry``).

    From a fresh URL out of MessageBird's listing when the stored one expired (see the module).
    """
    fresh_payload = _fresh_payload_if_expired(services, request_id)
    with services.database.transaction() as session:
        request = _failed_request(session, request_id)
        if request.secrets_erased_at is not None and fresh_payload is None:
            raise UseCaseError(
                "conflict",
                "the archive URL was erased by the retention policy "
                f"({iso_time(request.secrets_erased_at)}): send the request again",
                reason="secrets_erased",
            )
        if jobs.requeue_for(session, request_id, payload_sealed=fresh_payload) is None:
            raise UseCaseError("conflict", "this request has no archive download to retry", reason="no_download")
        reason = "retry requested by ops" + (
            ", from a new archive URL out of MessageBird's listing" if fresh_payload else ""
        )
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, reason=reason, actor=actor)
    return records.request_record(request)


def may_retry(state: str) -> bool:
    """Whether a request in ``state`` may have its archive download queued again: only a failed one."""
    return state == lifecycle.FAILED


def _failed_request(session: Session, request_id: str) -> ProcessorRequest:
    request = registry.find(session, request_id, for_update=True)
    if request is None:
        raise UseCaseError("not_found", "no request with this id")
    if not may_retry(request.state):
        raise UseCaseError(
            "conflict", f"only a failed request can be retried; this one is {request.state}", reason="not_failed"
        )
    return request


def _fresh_payload_if_expired(services: Services, request_id: str) -> str | None:
    """The sealed payload of a new archive URL when the stored one expired; None when it did not."""
    with services.database.reading() as connection:
        job = jobs.latest_of(connection, request_id, kind=jobs.ARCHIVE)
    if job is None or not _EXPIRED_URL.search(job.last_error or ""):
        return None
    stored_url = json.loads(services.secrets.open(job.payload_sealed))["url"] if job.payload_sealed else None
    listed_url = _listed_archive_url(services, request_id)
    if listed_url is None or listed_url == stored_url:
        raise UseCaseError(
            "conflict",
            "the stored archive URL no longer works and MessageBird's listing gives no "
            "new one: ask MessageBird support to send the callback again",
            reason="archive_url_expired",
        )
    return services.secrets.seal(json.dumps({"url": listed_url}))


def _listed_archive_url(services: Services, request_id: str) -> str | None:
    try:
        listing = services.providers.messagebird.list_requests()
    except ProviderError as error:
        raise UseCaseError(
            "conflict",
            f"the stored archive URL no longer works and MessageBird's listing could "
            f"not be read ({error.reason}); try again later",
            reason="listing_unavailable",
        ) from None
    return next((item.data_archive_url for item in listing if item.id == request_id), None)


@dataclass(frozen=True)
class ArchiveAccess:
    """How ops get a stored archive: a short-lived presigned URL (S3), or the file itself (file store)."""

    url: str | None
    expires_in: int
    file: BinaryIO | None


def archive_access(services: Services, request_id: str, *, actor: str) -> ArchiveAccess:
    """A presigned URL for the request's archive, or the open file; ``not_found`` when none is stored.

    The download is recorded (who, when, how) in the same transaction that reads
    where the archive is: an archive that cannot be audited is not handed out.
    """
    expires_in = services.settings.archive_presign_seconds
    with services.database.transaction() as session:
        request = registry.find(session, request_id)
        if request is None:
            raise UseCaseError("not_found", "no request with this id")
        uri = request.archive_uri
        if uri is None:
            raise UseCaseError("not_found", "No archive is stored for this request", reason="no_archive")
        if request.archive_deleted_at is not None:
            raise UseCaseError(
                "not_found",
                "The archive was deleted under the retention policy on "
                f"{iso_time(request.archive_deleted_at)} (see its deletion receipt)",
                reason="archive_deleted",
            )
        url = services.archive_store.presigned_url(uri, expires_in)
        how = f"a presigned URL valid {expires_in} s" if url is not None else "the file, from the file store"
        registry.record_event(
            session, request.id, kind=ARCHIVE_DOWNLOADED, actor=actor, note=f"archive handed out as {how}"
        )
    return ArchiveAccess(url, expires_in, None if url is not None else services.archive_store.open(uri))


# -- the archive job -----------------------------------------------------------------------------


def download_archive(
    services: Services,
    job: ClaimedJob,
    *,
    stop_requested: Callable[[], bool],
    interruptible: Interruptible,
) -> None:
    """Run one archive job from start to finish (or raise ``JobFailure``/``JobInterrupted``)."""
    url = _begin(services, job)
    if url is None:
        return
    started = time.monotonic()
    stored = _download_and_store(services, job, url, stop_requested=stop_requested, interruptible=interruptible)
    _complete(services, job, stored)
    ARCHIVE_BYTES.inc(stored.size)
    ARCHIVE_SECONDS.observe(time.monotonic() - started)


def _begin(services: Services, job: ClaimedJob) -> str | None:
    """Mark the request ``archiving`` and open the job's sealed URL; None when nothing is left to do."""
    with services.database.transaction() as session:
        request = registry.find(session, job.request_id or "", for_update=True)
        if request is None or request.state == lifecycle.COMPLETED:
            jobs.finish(session, job)
            log.info("archive.skipped", job_id=job.id, request_id=job.request_id, state=getattr(request, "state", None))
            return None
        if request.state != lifecycle.ARCHIVING or request.archiving_at is None:
            lifecycle.move(request, lifecycle.ARCHIVING, reason=f"download attempt {job.attempts}")
    return json.loads(services.secrets.open(job.payload_sealed or ""))["url"]


def _download_and_store(
    services: Services,
    job: ClaimedJob,
    url: str,
    *,
    stop_requested: Callable[[], bool],
    interruptible: Interruptible,
) -> StoredArchive:
    key = f"{registry.MESSAGEBIRD}/{job.request_id}.zip"
    metadata = {"request-id": job.request_id or "", "callback-id": str(job.callback_id or "")}
    try:
        with interruptible(), open_archive(url, services.fetch_policy) as source:
            guarded = _StopAware(source, stop_requested, services.settings.archive_download_max_seconds)
            stream = ArchiveStream(guarded, max_bytes=services.settings.archive_max_bytes)
            return services.archive_store.put(key, stream, metadata=metadata)
    except FetchError as error:
        raise JobFailure(f"download failed: {error.message}", retryable=error.retryable) from None
    except StorageError as error:
        if error.reason in NOT_RETRYABLE_STORAGE:
            raise JobFailure(NOT_RETRYABLE_STORAGE[error.reason], retryable=False) from None
        raise JobFailure(f"archive store {error.reason}: {error.message}", retryable=error.retryable) from None


def _complete(services: Services, job: ClaimedJob, stored: StoredArchive) -> None:
    """Record the stored archive and end the job together, or neither."""
    with services.database.transaction() as session:
        finish(session, job)
        request = registry.find(session, job.request_id or "", for_update=True)
        assert request is not None  # the job's foreign key keeps it
        _record_archive(request, stored)
        lifecycle.move(request, lifecycle.COMPLETED, reason="archive stored", callback_id=job.callback_id)
    log.info(
        "archive.stored",
        job_id=job.id,
        request_id=job.request_id,
        bytes=stored.size,
        sha256=stored.sha256,
        version_id=stored.version_id,
    )


def _record_archive(request: ProcessorRequest, stored: StoredArchive) -> None:
    request.archive_uri = stored.uri
    request.archive_bytes = stored.size
    request.archive_sha256 = stored.sha256
    request.archive_version_id = stored.version_id
    request.archive_stored_at = stored.stored_at


class _StopAware:
    """Passes reads through until the worker must stop, loses its lease, or the download runs too long.

    The per-read timeout alone would let a server that trickles bytes hold a worker for ever.
    """

    def __init__(self, source: Readable, stop_requested: Callable[[], bool], max_seconds: float) -> None:
        self._source = source
        self._stop_requested = stop_requested
        self._deadline = time.monotonic() + max_seconds

    def read(self, size: int = -1, /) -> bytes:
        if self._stop_requested():
            raise JobInterrupted("worker stopping")
        if time.monotonic() > self._deadline:
            raise JobFailure("download took longer than ARCHIVE_DOWNLOAD_MAX_SECONDS", retryable=True)
        return self._source.read(size)
