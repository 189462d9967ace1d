"""The endpoint MessageBird calls: ``POST /webhooks/messagebird/personal-data``.

A thin adapter: it bounds and reads the body once, rebuilds the URL MessageBird
signed from ``PUBLIC_URL`` (never from ``Host`` or ``X-Forwarded-*``, which a
caller controls and a proxy rewrites), hands a ``CallbackDelivery`` to
``receiver.usecases.callbacks`` and turns the ``Outcome`` into the answer and one log event.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, request

from receiver.observability.logs import bounded, get_logger
from receiver.observability.metrics import CALLBACKS
from receiver.usecases import callbacks
from receiver.usecases.callbacks import MESSAGEBIRD_CALLBACK_PATH
from receiver.web.context import access_logged
from receiver.web.current import services
from receiver.web.errors import BAD_REQUEST, INVALID_PARAMS, MISSING_PARAMS, NOT_FOUND, REQUEST_NOT_ALLOWED, HttpProblem
from verification import HMAC_HEADER, JWT_HEADER

#: The longest request id or kind a log line repeats from a delivery (a stored request id is at most 128).
MAX_LOGGED_ID_CHARS = 128
_EVENTS = {"accepted": "callback.accepted", "duplicate": "callback.duplicate"}

blueprint = Blueprint("webhooks", __name__)
log = get_logger("receiver.web.webhooks")

#: MessageBird's error code for each refusal status (400 for a missing field is code 9, see ``_problem``).
_CODE_OF_STATUS = {
    400: INVALID_PARAMS,
    401: REQUEST_NOT_ALLOWED,
    404: NOT_FOUND,
    409: BAD_REQUEST,
    413: INVALID_PARAMS,
    415: INVALID_PARAMS,
}


@blueprint.post(MESSAGEBIRD_CALLBACK_PATH)
def messagebird_personal_data() -> tuple[Response, int]:
    started = time.perf_counter()
    try:
        delivery = _delivery(_read_body(services().settings.max_callback_bytes))
    except HttpProblem as problem:
        refused = callbacks.record_refused(
            services(), _delivery(b""), status=problem.status, reason=problem.reason, description=problem.message
        )
        _log_outcome(refused, started)
        return problem.response()
    outcome = callbacks.receive(services(), delivery)
    _log_outcome(outcome, started)
    if outcome.verdict == callbacks.REJECTED:
        return _problem(outcome).response()
    return jsonify(outcome.answer().as_json()), 200


def _problem(outcome: callbacks.Outcome) -> HttpProblem:
    code = MISSING_PARAMS if outcome.reason == "missing_field" else _CODE_OF_STATUS[outcome.status]
    return HttpProblem(
        outcome.status,
        code,
        outcome.description or "Refused",
        reason=outcome.reason or "refused",
        parameter=outcome.parameter,
    )


def _read_body(limit: int) -> bytes:
    """The raw body, refused with 415 unless JSON and with 413 past ``limit`` bytes."""
    if request.mimetype != "application/json":
        raise HttpProblem(415, INVALID_PARAMS, "Content-Type must be application/json", reason="unsupported_media_type")
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, INVALID_PARAMS, "Body too large", reason="too_large")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise HttpProblem(413, INVALID_PARAMS, "Body too large", reason="too_large")
    return body


def signed_url() -> str:
    """The URL MessageBird sent the request to: PUBLIC_URL, our path, the raw query string."""
    url = services().settings.public_url + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def _delivery(body: bytes) -> callbacks.CallbackDelivery:
    return callbacks.CallbackDelivery(
        body=body,
        url=signed_url(),
        jwt_header=request.headers.get(JWT_HEADER),
        hmac_header=request.headers.get(HMAC_HEADER),
        remote_addr=request.remote_addr,
        http_request_id=request.environ.get("receiver.request_id"),
    )


def _log_outcome(outcome: callbacks.Outcome, started: float) -> None:
    """One event per delivery, which is also the request's access event."""
    CALLBACKS.labels(outcome.verdict, outcome.reason or "ok").inc()
    access_logged()
    emit = log.warning if outcome.verdict == callbacks.REJECTED else log.info
    emit(
        _EVENTS.get(outcome.verdict, "callback.rejected"),
        request_id=bounded(outcome.request_id, MAX_LOGGED_ID_CHARS),  # from the body, which may be unsigned
        kind=bounded(outcome.kind, MAX_LOGGED_ID_CHARS),
        status=outcome.status,
        reason=outcome.reason,
        jwt=outcome.jwt.verdict,
        jwt_reason=outcome.jwt.reason,
        hmac=outcome.hmac.verdict,
        hmac_reason=outcome.hmac.reason,
        hmac_key_encoding=outcome.hmac.key_encoding,
        callback_id=outcome.callback_id,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
    )
