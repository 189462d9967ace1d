"""What ops do with a request's archive: queue its download again, or fetch what is stored.

Both name their actor: a retry is a transition of the request, a download an
``archive_downloaded`` event of the request, recorded before the archive is handed out.

An archive URL is short-lived. When the stored one was refused as expired or gone (the
download failed with HTTP 401, 403, 404 or 410), the retry first asks MessageBird's
listing for the request's current ``dataArchiveUrl`` and downloads from that instead;
it refuses (409) when the listing has none or only the same URL again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from receiver.providers import ProviderError
from receiver.services import Services
from receiver.usecases import records
from receiver.usecases.answers import RequestRecord, iso_time
from receiver.usecases.errors import UseCaseError
from storage import jobs, lifecycle, registry
from storage.models import ProcessorRequest

ARCHIVE_DOWNLOADED = "archive_downloaded"
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
