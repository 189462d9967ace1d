"""The web layer's one error type and the handlers that turn every failure into JSON.

Answers use the provider's own error shape, ``{"errors": [{"code", "description"}]}``,
with MessageBird's error codes. The description is generic; the precise
``reason`` goes to the log only. No path answers with a traceback.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException

from receiver.observability.logs import get_logger
from receiver.providers.errors import ProviderError
from receiver.usecases.errors import UseCaseError
from storage.errors import ServiceError, StorageError

log = get_logger(__name__)

# MessageBird's documented error codes (API reference, "Error codes").
REQUEST_NOT_ALLOWED = 2
MISSING_PARAMS = 9
INVALID_PARAMS = 10
NOT_FOUND = 20
BAD_REQUEST = 21
INTERNAL_ERROR = 99
SERVICE_UNAVAILABLE = 100
DUPLICATE_ENTRY = 101


class HttpProblem(ServiceError):
    """An answer other than success: HTTP status, provider-style code, generic message (the answer's
    ``description``), log reason."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        reason: str,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(reason, message)
        self.status = status
        self.code = code
        self.parameter = parameter
        self.headers = headers or {}

    def response(self) -> tuple[Response, int]:
        error: dict[str, object] = {"code": self.code, "description": self.message}
        if self.parameter:
            error["parameter"] = self.parameter
        response = jsonify(errors=[error])
        response.headers.update(self.headers)
        return response, self.status


def unauthorized(reason: str) -> HttpProblem:
    return HttpProblem(401, REQUEST_NOT_ALLOWED, "Request not allowed (signature or credentials)", reason=reason)


def unavailable(reason: str = "storage_unavailable") -> HttpProblem:
    return HttpProblem(503, SERVICE_UNAVAILABLE, "Service unavailable, please retry", reason=reason)


def invalid(description: str, *, parameter: str | None = None, reason: str = "invalid_params") -> HttpProblem:
    return HttpProblem(400, INVALID_PARAMS, description, reason=reason, parameter=parameter)


_STATUS_OF_KIND = {"missing": 400, "invalid": 400, "not_found": 404, "conflict": 409, "forbidden": 403}
_CODE_OF_KIND = {
    "missing": MISSING_PARAMS,
    "invalid": INVALID_PARAMS,
    "not_found": NOT_FOUND,
    "conflict": DUPLICATE_ENTRY,
    "forbidden": REQUEST_NOT_ALLOWED,
}


def problem_from_usecase(error: UseCaseError) -> HttpProblem:
    """The answer to a use case's refusal: its kind's status and code, its own message and parameter."""
    return HttpProblem(
        _STATUS_OF_KIND[error.kind],
        _CODE_OF_KIND[error.kind],
        error.message,
        reason=error.reason,
        parameter=error.parameter,
    )


def problem_from_storage(error: StorageError) -> HttpProblem:
    if error.reason == "not_found":
        return HttpProblem(404, NOT_FOUND, "Not found", reason="not_found")
    if error.reason == "conflict":
        return HttpProblem(409, DUPLICATE_ENTRY, "Conflicts with a stored record", reason="conflict")
    return unavailable(f"storage_{error.reason}")


_PROVIDER_NAMES = {
    "messagebird": ("MessageBird", "MESSAGEBIRD_ACCESS_KEY"),
    "voodoosms": ("VoodooSMS", "VOODOOSMS_API_KEY"),
}


def problem_from_provider(error: ProviderError) -> HttpProblem:
    """Our answer when a provider call failed: its documented code and description when it refused."""
    name, key = _PROVIDER_NAMES.get(error.provider, (error.provider, "the provider key"))
    reason = f"provider_{error.reason}"
    if error.reason == "rejected":
        return HttpProblem(
            422,
            error.code if error.code is not None else INVALID_PARAMS,
            f"{name}: {error.description or 'request refused'}",
            reason=reason,
            parameter=error.parameter,
        )
    if error.reason in ("not_configured", "unauthorized"):
        what = "is not configured" if error.reason == "not_configured" else "refused our credentials"
        return HttpProblem(
            503 if error.reason == "not_configured" else 502,
            SERVICE_UNAVAILABLE,
            f"{name} {what}: configuration error, check {key}",
            reason=reason,
        )
    if error.reason == "timeout":
        return HttpProblem(
            504,
            SERVICE_UNAVAILABLE,
            f"{name} did not answer in time; the request may have been "
            "created there: check the request list before sending it again",
            reason=reason,
        )
    if error.reason == "bad_response":
        return HttpProblem(502, INTERNAL_ERROR, f"{name} answered in an undocumented way", reason=reason)
    headers = {"Retry-After": str(max(1, round(error.retry_after)))} if error.retry_after is not None else None
    return HttpProblem(503, SERVICE_UNAVAILABLE, f"{name} is unavailable, please retry", reason=reason, headers=headers)


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(HttpProblem, lambda problem: problem.response())
    app.register_error_handler(UseCaseError, lambda error: problem_from_usecase(error).response())
    app.register_error_handler(StorageError, _storage_error)
    app.register_error_handler(ProviderError, _provider_error)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(ParseException, _unreadable_body)
    app.register_error_handler(Exception, _unexpected)


def _storage_error(error: StorageError) -> tuple[Response, int]:
    log.warning("storage.failed", reason=error.reason, error=error.message)
    return problem_from_storage(error).response()


def _provider_error(error: ProviderError) -> tuple[Response, int]:
    log.warning("provider.failed", provider=error.provider, reason=error.reason, code=error.code, status=error.status)
    return problem_from_provider(error).response()


def _http_exception(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    code = {404: NOT_FOUND, 405: BAD_REQUEST, 413: INVALID_PARAMS}.get(status, BAD_REQUEST)
    return HttpProblem(status, code, error.name, reason=f"http_{status}").response()


def _unreadable_body(error: ParseException) -> tuple[Response, int]:
    """gunicorn parses a chunked body as the app reads it: broken framing is the client's fault."""
    log.warning("request.unreadable_body", error_type=type(error).__name__)
    return HttpProblem(400, BAD_REQUEST, "Malformed request body", reason="unreadable_body").response()


def _unexpected(error: Exception) -> tuple[Response, int]:
    log.error("request.crashed", error_type=type(error).__name__, exc_info=error)
    return HttpProblem(500, INTERNAL_ERROR, "Internal error", reason="unexpected").response()
