"""The archive job: download the ZIP a verified callback pointed at and keep it as evidence.

    claim job -> request ``archiving`` -> open_archive (SSRF-safe HTTPS) -> ArchiveStream
    (SHA-256, byte limit, ZIP check) -> store.put (S3 multipart or file) -> in ONE
    transaction: job done + request ``completed`` with URI, size, SHA-256, version

The object key is ``<provider>/<request id>.zip``: a retry after a crash
overwrites the same object instead of storing a second copy.

The archive URL is a bearer secret: it is unsealed from the job's payload here and
handed to ``open_archive`` only. A failure's reason (``jobs.last_error``, the request's
``state_reason``, the ``job.*`` log events) is ``FetchError.message``: the failure class
and the URL's origin, never its path or query; the stored object's metadata holds ids.
"""

from __future__ import annotations

import json
import time

from receiver.fetching import FetchError, open_archive
from receiver.jobs.contract import JobContext, JobFailure, JobInterrupted
from receiver.observability.logs import get_logger
from receiver.observability.metrics import ARCHIVE_BYTES, ARCHIVE_SECONDS
from storage import jobs, lifecycle, registry
from storage.archives import ArchiveStream, StoredArchive
from storage.archives.stream import Readable
from storage.errors import StorageError
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.archive")

NOT_RETRYABLE_STORAGE = {"not_a_zip": "not a zip", "too_large": "archive larger than ARCHIVE_MAX_BYTES"}


def archive_job(context: JobContext) -> None:
    """Run one archive job from start to finish (or raise ``JobFailure``/``JobInterrupted``)."""
    url = _begin(context)
    if url is None:
        return
    started = time.monotonic()
    stored = _download_and_store(context, url)
    _complete(context, stored)
    ARCHIVE_BYTES.inc(stored.size)
    ARCHIVE_SECONDS.observe(time.monotonic() - started)


def _begin(context: JobContext) -> str | None:
    """Mark the request ``archiving`` and open the job's sealed URL; None when nothing is left to do."""
    services, job = context.services, context.job
    with services.database.transaction() as session:
        request = registry.find(session, job.request_id or "", for_update=True)
        if request is None or request.state == lifecycle.COMPLETED:
            jobs.finish(session, job)
            log.info("archive.skipped", job_id=job.id, request_id=job.request_id, state=getattr(request, "state", None))
            return None
        if request.state != lifecycle.ARCHIVING or request.archiving_at is None:
            lifecycle.move(request, lifecycle.ARCHIVING, reason=f"download attempt {job.attempts}")
    return json.loads(services.secrets.open(job.payload_sealed or ""))["url"]


def _download_and_store(context: JobContext, url: str) -> StoredArchive:
    services, job = context.services, context.job
    key = f"{registry.MESSAGEBIRD}/{job.request_id}.zip"
    metadata = {"request-id": job.request_id or "", "callback-id": str(job.callback_id or "")}
    try:
        with context.interruptible(), open_archive(url, services.fetch_policy) as source:
            stream = ArchiveStream(_StopAware(source, context), max_bytes=services.settings.archive_max_bytes)
            return services.archive_store.put(key, stream, metadata=metadata)
    except FetchError as error:
        raise JobFailure(f"download failed: {error.message}", retryable=error.retryable) from None
    except StorageError as error:
        if error.reason in NOT_RETRYABLE_STORAGE:
            raise JobFailure(NOT_RETRYABLE_STORAGE[error.reason], retryable=False) from None
        raise JobFailure(f"archive store {error.reason}: {error.message}", retryable=error.retryable) from None


def _complete(context: JobContext, stored: StoredArchive) -> None:
    """Record the stored archive and end the job together, or neither."""
    services, job = context.services, context.job
    with services.database.transaction() as session:
        if not jobs.finish(session, job):
            raise JobInterrupted("the lease passed to another worker")
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

    def __init__(self, source: Readable, context: JobContext) -> None:
        self._source = source
        self._context = context
        self._deadline = time.monotonic() + context.services.settings.archive_download_max_seconds

    def read(self, size: int = -1, /) -> bytes:
        if self._context.stop_requested():
            raise JobInterrupted("worker stopping")
        if time.monotonic() > self._deadline:
            raise JobFailure("download took longer than ARCHIVE_DOWNLOAD_MAX_SECONDS", retryable=True)
        return self._source.read(size)
