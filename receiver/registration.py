"""Registering requests: the one path by which a request and its signature key are stored.

``/api/requests/import`` and ``flask requests import`` use it for requests created
elsewhere; the outbound provider clients store what the provider answered
through it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from receiver.errors import MISSING_PARAMS, HttpProblem, invalid
from receiver.services import Services
from storage import requests
from storage.models import Request

# The documented values of the Personal Data API's ``field`` attribute.
MESSAGEBIRD_FIELDS = ("phone_number", "email", "ipv4", "ipv6", "address", "name", "chat api contact ID")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_TEXT = 1000


def import_messagebird_request(services: Services, document: Any) -> Request:
    """Validate an import document and store the request in state ``sent``."""
    fields = _object(document)
    new = requests.NewRequest(
        id=_request_id(fields),
        provider=requests.MESSAGEBIRD,
        kind=_choice(fields, "kind", requests.MESSAGEBIRD_KINDS),
        field=_optional_choice(fields, "field", MESSAGEBIRD_FIELDS),
        reason=_optional_text(fields, "reason"),
        subject_ref=_optional_text(fields, "subjectRef", limit=200),
        signature_key_sealed=services.secrets.seal(_required_text(fields, "signatureKey")),
    )
    return store(services, new)


#: Work done in the transaction that stores a request (queue its first job...), given the stored request.
After = Callable[[Session, Request], None]


def store(services: Services, new: requests.NewRequest, *, after: After | None = None) -> Request:
    """Register ``new`` in state ``sent``; ``after`` runs in the same transaction."""
    with services.database.transaction() as session:
        request = requests.register(session, new)
        if after is not None:
            after(session, request)
        return request


def _object(document: Any) -> Mapping[str, Any]:
    if not isinstance(document, dict):
        raise invalid("Body must be a JSON object")
    return document


def _required_text(fields: Mapping[str, Any], name: str, *, limit: int = MAX_TEXT) -> str:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise HttpProblem(400, MISSING_PARAMS, f"{name} is required", reason="missing_field", parameter=name)
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(f"{name} must be a string of at most {limit} characters", parameter=name)
    return value.strip()


def _optional_text(fields: Mapping[str, Any], name: str, *, limit: int = MAX_TEXT) -> str | None:
    if fields.get(name) in (None, ""):
        return None
    return _required_text(fields, name, limit=limit)


def _request_id(fields: Mapping[str, Any]) -> str:
    value = _required_text(fields, "id", limit=128)
    if not _REQUEST_ID.match(value):
        raise invalid("id may hold letters, digits and . _ : - only", parameter="id")
    return value


def _choice(fields: Mapping[str, Any], name: str, allowed: Any) -> str:
    value = _required_text(fields, name)
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(sorted(allowed))}", parameter=name)
    return value


def _optional_choice(fields: Mapping[str, Any], name: str, allowed: Any) -> str | None:
    return None if fields.get(name) in (None, "") else _choice(fields, name, allowed)
