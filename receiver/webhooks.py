"""The endpoint MessageBird calls: ``POST /webhooks/messagebird/personal-data``.

A thin adapter: it bounds and reads the body once, rebuilds the URL MessageBird
signed from ``PUBLIC_URL`` (never from ``Host`` or ``X-Forwarded-*``, which a
caller controls and a proxy rewrites), hands a ``Delivery`` to
``receiver.callbacks`` and turns the ``Outcome`` into the answer and one log event.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, request

from receiver import callbacks
from receiver.errors import INVALID_PARAMS, HttpProblem
from receiver.logs import get_logger
from receiver.metrics import CALLBACKS
from receiver.services import services

MESSAGEBIRD_PATH = "/webhooks/messagebird/personal-data"
JWT_HEADER = "MessageBird-Signature-JWT"
HMAC_HEADER = "X-MessageBird-Signature"

blueprint = Blueprint("webhooks", __name__)
log = get_logger("receiver.webhooks")


@blueprint.post(MESSAGEBIRD_PATH)
def messagebird_personal_data() -> tuple[Response, int]:
    started = time.perf_counter()
    try:
        delivery = _delivery(_read_body(services().settings.max_callback_bytes))
    except HttpProblem as problem:
        _log_outcome(callbacks.record_refused(services(), _delivery(b""), problem), started)
        return problem.response()
    outcome = callbacks.receive(services(), delivery)
    _log_outcome(outcome, started)
    if outcome.problem is not None:
        return outcome.problem.response()
    return jsonify(status=outcome.verdict, requestId=outcome.request_id), 200


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


def _delivery(body: bytes) -> callbacks.Delivery:
    return callbacks.Delivery(
        body=body,
        url=signed_url(),
        jwt_header=request.headers.get(JWT_HEADER),
        hmac_header=request.headers.get(HMAC_HEADER),
        remote_addr=request.remote_addr,
        http_request_id=request.environ.get("receiver.request_id"),
    )


def _log_outcome(outcome: callbacks.Outcome, started: float) -> None:
    CALLBACKS.labels(outcome.verdict, outcome.reason or "ok").inc()
    event = {"accepted": "callback.accepted", "duplicate": "callback.duplicate"}.get(outcome.verdict, "callback.rejected")
    emit = log.warning if outcome.verdict == callbacks.REJECTED else log.info
    emit(
        event,
        request_id=outcome.request_id,
        kind=outcome.kind,
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
