"""VoodooSMS's GDPR Forget API: ``POST /gdpr/forget`` and ``/gdpr/status``.

VoodooSMS sends no callback: the service submits the number once, keeps the
``reference`` and ``created_at`` it answers with, and asks ``/gdpr/status`` until
the message reads "The number has been removed". The docs name the status call
``GET`` but show it as a ``POST`` with a JSON body; the client sends what the
example shows and, on 405 (or a 404 without a documented error), asks with ``GET``
and query parameters instead, and keeps using the method that worked.

Errors come as ``{"error": {"code", "msg"}}``: 76 "Cannot use this number" (forget),
77 "No records found" and 78 "Request failed" (status).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from receiver.providers.errors import ProviderError
from receiver.providers.transport import Answer, JsonTransport, error_for

PROVIDER = "voodoosms"
FORGET_PATH = "/gdpr/forget"
STATUS_PATH = "/gdpr/status"

NO_RECORDS = 77
REQUEST_FAILED = 78
REMOVED_MESSAGE = "The number has been removed"


@dataclass(frozen=True)
class Accepted:
    """The answer to a forget request."""

    reference: str
    created_at: dt.datetime
    message: str | None


@dataclass(frozen=True)
class Status:
    """The answer to a status request: removed, or still pending (``message`` says which).

    ``reference`` and ``created_at`` name the forget request the answer is about: asked
    by date alone, they are how a request whose forget answer was lost is found again.
    """

    reference: str | None
    message: str
    removed: bool
    created_at: dt.datetime | None = None


class VoodooSmsClient:
    """The GDPR Forget API with one API key; ``transport`` is None when no key is configured."""

    def __init__(self, transport: JsonTransport | None) -> None:
        self._transport = transport
        self._status_method = "POST"

    @property
    def configured(self) -> bool:
        return self._transport is not None

    def forget(self, number: int, *, blacklist: bool | None = None) -> Accepted:
        """Ask VoodooSMS to forget ``number`` (digits beginning with 44, as an integer)."""
        document: dict[str, Any] = {"number": number}
        if blacklist is not None:
            document["blacklist"] = blacklist
        answer = self._call("POST", FORGET_PATH, json_body=document)
        fields = _success(answer)
        reference, created_at = fields.get("reference"), _unix_time(fields.get("created_at"))
        if not isinstance(reference, str) or not reference.strip() or created_at is None:
            raise ProviderError(
                "bad_response",
                "voodoosms: the forget answer lacks reference or created_at",
                provider=PROVIDER,
                status=answer.status,
                outcome_unknown=True,
            )
        return Accepted(reference.strip(), created_at, _text(fields.get("msg")))

    def status(self, *, submitted_at: dt.datetime, reference: str | None = None) -> Status:
        """The status of the forget request ``reference`` submitted at ``submitted_at``; without a reference,
        of the request VoodooSMS finds by that date alone."""
        query: dict[str, Any] = {"date": int(submitted_at.timestamp())}
        if reference:
            query["reference"] = reference
        answer = self._status(query)
        fields = _success(answer)
        message = _text(fields.get("msg")) or ""
        return Status(
            _text(fields.get("reference")),
            message,
            removed=message.lower() == REMOVED_MESSAGE.lower(),
            created_at=_unix_time(fields.get("created_at")),
        )

    def _status(self, query: Mapping[str, Any]) -> Answer:
        if self._status_method == "POST":
            answer = self._call("POST", STATUS_PATH, json_body=dict(query))
            if not _method_refused(answer):
                return answer
            self._status_method = "GET"
        return self._call("GET", STATUS_PATH, params=query)

    def _call(
        self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None
    ) -> Answer:
        if self._transport is None:
            raise ProviderError("not_configured", "VOODOOSMS_API_KEY is not set", provider=PROVIDER)
        return self._transport.call(method, path, json_body=json_body, params=params)


def bearer_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _success(answer: Answer) -> Mapping[str, Any]:
    """The fields of a successful answer, or the ``ProviderError`` its documented error stands for."""
    document = answer.document if isinstance(answer.document, dict) else {}
    error = document.get("error")
    if isinstance(error, dict) or not 200 <= answer.status < 300:
        raise _error(answer, error if isinstance(error, dict) else {})
    if str(document.get("status", "")).upper() != "SUCCESS":
        raise ProviderError(
            "bad_response",
            "voodoosms: the answer is neither SUCCESS nor an error",
            provider=PROVIDER,
            status=answer.status,
            outcome_unknown=True,
        )
    return document


def _error(answer: Answer, error: Mapping[str, Any]) -> ProviderError:
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    documented = isinstance(code, int) and 200 <= answer.status < 300
    return error_for(
        answer,
        provider=PROVIDER,
        code=code if isinstance(code, int) else None,
        description=_text(error.get("msg")),
        reason="rejected" if documented else None,
    )


def _method_refused(answer: Answer) -> bool:
    documented = isinstance(answer.document, dict) and isinstance(answer.document.get("error"), dict)
    return answer.status == 405 or (answer.status == 404 and not documented)


def _unix_time(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
