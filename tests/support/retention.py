"""Requests with archives in the store and cases around them, as retention finds them after time has passed.

Time is never mocked: completion and closing times are written in the past, as if the service
had been running that long.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from pathlib import Path

from receiver.services import Services
from storage import lifecycle, registry
from storage.archives import ArchiveStream
from storage.clock import Clock
from storage.models import Case, ProcessorRequest
from tests.support import zips

_ids = itertools.count()


def stored_request(
    services: Services, *, completed_days_ago: float, case_id: str | None = None, archive: bytes | None = None
) -> str:
    """A GET request whose archive is in the store, completed ``completed_days_ago`` days ago."""
    request_id = f"ret-{next(_ids)}"
    archive = archive or zips.zip_bytes({"data.json": request_id.encode()})
    stored = services.archive_store.put(
        f"messagebird/{request_id}.zip", ArchiveStream(io.BytesIO(archive), max_bytes=1 << 20), metadata={}
    )
    completed_at = Clock().now() - dt.timedelta(days=completed_days_ago)
    with services.database.transaction() as session:
        request = registry.register(
            session,
            registry.NewRequest(
                request_id, registry.MESSAGEBIRD, "KIND_PERSONAL_GET", signature_key_sealed=services.secrets.seal("k")
            ),
        )
        request.case_id = case_id
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, at=completed_at - dt.timedelta(minutes=1))
        lifecycle.move(request, lifecycle.COMPLETED, at=completed_at, reason="archive stored")
        request.archive_uri, request.archive_bytes, request.archive_sha256 = stored.uri, stored.size, stored.sha256
        request.archive_version_id, request.archive_stored_at = stored.version_id, completed_at
    return request_id


def add_case(services: Services, *, closed_days_ago: float | None = None) -> str:
    case_id = f"case-ret-{next(_ids)}"
    closed_at = Clock().now() - dt.timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    with services.database.transaction() as session:
        session.add(
            Case(
                id=case_id,
                subject_ref="T-9",
                right="access",
                jurisdiction="UK",
                received_on=dt.date(2026, 1, 5),
                due_on=dt.date(2026, 2, 5),
                original_due_on=dt.date(2026, 2, 5),
                created_by="ops",
                calendar_country="GB",
                calendar_subdivision="ENG",
                responded_on=closed_at.date() if closed_at else None,
                closed_at=closed_at,
            )
        )
    return case_id


def archive_file(services: Services, request_id: str) -> Path:
    with services.database.transaction() as session:
        uri = session.get(ProcessorRequest, request_id).archive_uri
    return Path(uri.removeprefix("file://"))
