"""Registering requests created elsewhere, with the signature key MessageBird gave for each.

``/api/requests/import`` and ``flask requests import`` use it for requests created
elsewhere. A request the service sends itself is stored by ``sending``: first as an
intent, then under the id the provider answered with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from receiver.services import Services
from receiver.usecases import records
from receiver.usecases.answers import RequestRecord
from receiver.usecases.documents import ImportRequestDocument, parse
from storage import registry
from storage.models import ProcessorRequest


def import_messagebird_request(services: Services, document: Any, *, actor: str) -> RequestRecord:
    """Validate an import document and store the request in state ``sent``, in its case if it names one."""
    imported = parse(ImportRequestDocument, document)
    new = registry.NewRequest(
        id=imported.id,
        provider=registry.MESSAGEBIRD,
        kind=imported.kind,
        field=imported.field,
        reason=imported.reason,
        subject_ref=imported.subject_ref,
        signature_key_sealed=services.secrets.seal(imported.signature_key),
        case_id=imported.case_id,
        registered_by=actor,
    )
    return records.request_record(store(services, new))


#: Work done in the transaction that stores a request (queue its first job...), given the stored request.
After = Callable[[Session, ProcessorRequest], None]


def store(services: Services, new: registry.NewRequest, *, after: After | None = None) -> ProcessorRequest:
    """Register ``new`` in state ``sent``; ``after`` runs in the same transaction."""
    with services.database.transaction() as session:
        request = registry.register(session, new)
        if after is not None:
            after(session, request)
        return request
