"""What ops do with a request's archive: queue its download again, or fetch what is stored.

Both name their actor: a retry is a transition of the request, a download an
``archive_downloaded`` event of the request, recorded before the archive is handed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from receiver.services import Services
from receiver.usecases.errors import UseCaseError
from storage import jobs, lifecycle, registry
from storage.models import ProcessorRequest

ARCHIVE_DOWNLOADED = "archive_downloaded"


def retry_archive(services: Services, request_id: str, *, actor: str) -> ProcessorRequest:
    """Queue a failed request's archive download again (``POST /api/requests/<id>/retry``)."""
    with services.database.transaction() as session:
        request = registry.find(session, request_id, for_update=True)
        if request is None:
            raise UseCaseError("not_found", "no request with this id")
        if request.state != lifecycle.FAILED:
            raise UseCaseError("conflict", f"only a failed request can be retried; this one is {request.state}",
                               reason="not_failed")
        if jobs.requeue_for(session, request_id) is None:
            raise UseCaseError("conflict", "this request has no archive download to retry", reason="no_download")
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, reason="retry requested by ops", actor=actor)
        return request


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
        url = services.archive_store.presigned_url(uri, expires_in)
        how = f"a presigned URL valid {expires_in} s" if url is not None else "the file, from the file store"
        registry.record_event(session, request.id, kind=ARCHIVE_DOWNLOADED, actor=actor,
                              note=f"archive handed out as {how}")
    return ArchiveAccess(url, expires_in, None if url is not None else services.archive_store.open(uri))
