"""What ops do with a request's archive: queue its download again, or fetch what is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from receiver.services import Services
from receiver.usecases.errors import UseCaseError
from storage import jobs, lifecycle, registry
from storage.models import ProcessorRequest


def retry_archive(services: Services, request_id: str) -> ProcessorRequest:
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
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, reason="retry requested by ops")
        return request


@dataclass(frozen=True)
class ArchiveAccess:
    """How ops get a stored archive: a short-lived presigned URL (S3), or the file itself (file store)."""

    url: str | None
    expires_in: int
    file: BinaryIO | None


def archive_access(services: Services, request_id: str) -> ArchiveAccess:
    """A presigned URL for the request's archive, or the open file; ``not_found`` when none is stored."""
    with services.database.transaction() as session:
        request = registry.find(session, request_id)
        if request is None:
            raise UseCaseError("not_found", "no request with this id")
        uri = request.archive_uri
    if uri is None:
        raise UseCaseError("not_found", "No archive is stored for this request", reason="no_archive")
    expires_in = services.settings.archive_presign_seconds
    url = services.archive_store.presigned_url(uri, expires_in)
    return ArchiveAccess(url, expires_in, None if url is not None else services.archive_store.open(uri))
