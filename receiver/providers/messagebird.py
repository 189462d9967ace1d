"""MessageBird's Personal Data API: ``POST`` and ``GET /personaldata/requests``.

``create_request`` sends one request and returns what the 201 answer holds (the
``id`` and ``signatureKey`` the callback will be matched and verified with);
``list_requests`` returns the provider's view of every request (the complete request
objects, ``signatureKey`` and ``value`` included), for reconciliation.
Errors are read as the API reference documents them,
``{"errors": [{"code", "description", "parameter"}]}``, into one ``ProviderError``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from receiver.providers.errors import ProviderError
from receiver.providers.transport import Answer, JsonTransport, error_for

PROVIDER = "messagebird"
REQUESTS_PATH = "/personaldata/requests"

STATE_SENT = "STATE_SENT"
STATE_FAILED = "STATE_FAILED"
STATE_DONE = "STATE_DONE"
STATE_CALLBACK_OK = "STATE_CALLBACK_OK"
STATE_CALLBACK_FAIL = "STATE_CALLBACK_FAIL"
STATES = (STATE_SENT, STATE_FAILED, STATE_DONE, STATE_CALLBACK_OK, STATE_CALLBACK_FAIL)


@dataclass(frozen=True)
class Order:
    """What to ask MessageBird for; ``value`` is personal data and never shown."""

    kind: str
    reason: str
    callback_url: str
    field: str | None = None
    value: str | None = dataclasses.field(default=None, repr=False)

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "reason": self.reason, "callback": {"http": self.callback_url}}
        if self.field is not None:
            document.update(field=self.field, value=self.value)
        return document


@dataclass(frozen=True)
class Created:
    """The 201 answer: the request id, its callback signing key, state and creation time."""

    id: str
    signature_key: str = dataclasses.field(repr=False)
    state: str | None
    created_at: dt.datetime | None


@dataclass(frozen=True)
class Listed:
    """One request as ``GET /personaldata/requests`` shows it: the complete request object.

    ``signature_key`` and ``value`` (personal data) are what find a request whose
    creation answer we lost, and are never shown, logged or kept in clear.
    """

    id: str
    kind: str | None
    state: str | None
    data_archive_url: str | None = dataclasses.field(repr=False)
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    signature_key: str | None = dataclasses.field(default=None, repr=False)
    field: str | None = None
    value: str | None = dataclasses.field(default=None, repr=False)
    reason: str | None = None


class MessageBirdClient:
    """The Personal Data API with one access key; ``transport`` is None when no key is configured."""

    def __init__(self, transport: JsonTransport | None) -> None:
        self._transport = transport

    @property
    def configured(self) -> bool:
        return self._transport is not None

    def create_request(self, order: Order) -> Created:
        answer = self._call("POST", REQUESTS_PATH, json_body=order.document())
        if answer.status != 201 or not isinstance(answer.document, dict):
            raise _error(answer)
        return _created(answer.document)

    def list_requests(self) -> list[Listed]:
        answer = self._call("GET", REQUESTS_PATH)
        if answer.status != 200:
            raise _error(answer)
        return [_listed(item) for item in _items(answer.document)]

    def _call(self, method: str, path: str, *, json_body: Any = None) -> Answer:
        if self._transport is None:
            raise ProviderError("not_configured", "MESSAGEBIRD_ACCESS_KEY is not set", provider=PROVIDER)
        return self._transport.call(method, path, json_body=json_body)


def access_key_headers(access_key: str) -> dict[str, str]:
    return {"Authorization": f"AccessKey {access_key}"}


def _error(answer: Answer) -> ProviderError:
    """The documented error of an unsuccessful answer (the first of ``errors``, if any)."""
    errors = answer.document.get("errors") if isinstance(answer.document, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    return error_for(
        answer,
        provider=PROVIDER,
        code=code if isinstance(code, int) else None,
        description=_text(first.get("description")),
        parameter=_text(first.get("parameter")),
    )


def _created(document: Mapping[str, Any]) -> Created:
    request_id, key = _text(document.get("id")), _text(document.get("signatureKey"))
    if not request_id or not key:
        raise ProviderError(
            "bad_response",
            "messagebird: the 201 answer lacks id or signatureKey",
            provider=PROVIDER,
            status=201,
            outcome_unknown=True,
        )
    return Created(request_id, key, _text(document.get("state")), parse_time(document.get("createdAt")))


def _items(document: Any) -> list[Mapping[str, Any]]:
    """The request objects of a listing: ``{"requests": [...]}``, ``{"items": [...]}`` or a bare array."""
    if isinstance(document, dict):
        document = document.get("requests", document.get("items"))
    if document is None:
        return []
    if not isinstance(document, list):
        raise ProviderError("bad_response", "messagebird: the listing holds no array of requests", provider=PROVIDER)
    return [item for item in document if isinstance(item, dict) and _text(item.get("id"))]


def _listed(item: Mapping[str, Any]) -> Listed:
    return Listed(
        id=str(item["id"]),
        kind=_text(item.get("kind")),
        state=_text(item.get("state")),
        data_archive_url=_text(item.get("dataArchiveUrl")),
        created_at=parse_time(item.get("createdAt")),
        updated_at=parse_time(item.get("updatedAt")),
        signature_key=_text(item.get("signatureKey")),
        field=_text(item.get("field")),
        value=item.get("value") if isinstance(item.get("value"), str) else None,
        reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
    )


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 (nano) timestamp as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
