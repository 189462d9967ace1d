"""Receiving a MessageBird Personal Data callback: verify, decide, record, in one transaction.

The web view (``receiver/web/webhooks.py``) hands over a ``Delivery``: the raw body,
the URL MessageBird signed and the two signature headers. ``receive`` answers
with an ``Outcome``; the callback row, the request's next state and the archive
job are written in the same transaction, so a 200 is only ever given for a
callback that is durably recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases.documents import CallbackBody, parse_json
from receiver.usecases.errors import UseCaseError
from storage import deliveries, lifecycle, registry
from storage.deliveries import ArchiveDownload, RequestHead
from storage.errors import StorageError
from storage.replay import ReplayScope
from verification import SignatureError, record_jti, verify_hmac_signature, verify_jwt

#: Where MessageBird sends Personal Data callbacks; the URL given in each request is ``PUBLIC_URL`` + this.
MESSAGEBIRD_CALLBACK_PATH = "/webhooks/messagebird/personal-data"

PASSED, FAILED, ABSENT, UNCHECKED = "passed", "failed", "absent", "unchecked"
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
MAX_RESULT_CHARS = 2000
#: The one answer to every signature failure: the precise reason goes to the log, not to the caller.
NOT_ALLOWED = "Request not allowed (signature or credentials)"

log = get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    url: str
    jwt_header: str | None
    hmac_header: str | None
    remote_addr: str | None = None
    http_request_id: str | None = None


@dataclass
class SchemeVerdict:
    verdict: str
    reason: str | None = None
    key_encoding: str | None = None
    timestamp: int | None = None
    jwt_id: str | None = None
    #: The verified JWT's claims, until its ``jti`` is recorded (never stored, never logged).
    claims: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class Outcome:
    status: int
    verdict: str
    reason: str | None
    request_id: str | None = None
    kind: str | None = None
    callback_id: int | None = None
    jwt: SchemeVerdict = field(default_factory=lambda: SchemeVerdict(UNCHECKED))
    hmac: SchemeVerdict = field(default_factory=lambda: SchemeVerdict(UNCHECKED))
    #: For a refusal: what the answer tells the caller (generic), and the parameter at fault.
    description: str | None = None
    parameter: str | None = None


def receive(services: Services, delivery: Delivery, *, now: float | None = None) -> Outcome:
    """Verify and record one delivery; raises ``StorageError`` when it cannot be recorded."""
    now = time.time() if now is None else now
    try:
        body = parse_json(CallbackBody, delivery.body)
    except UseCaseError as error:
        refused = Outcome(400, REJECTED, error.reason, description=error.description, parameter=error.parameter)
        return _record_unparsed(services, delivery, refused, now)
    jwt = _check_jwt(services, delivery, now)  # pure CPU: done before the transaction, which stays short
    scope: ReplayScope | None = None
    try:
        with services.database.connection() as connection:
            scope = services.replay_cache.within(connection)
            return _decide_and_record(connection, services, delivery, body, jwt, scope, now)
    except StorageError:
        if scope is not None:
            _undo_quietly(scope)
        raise


def _undo_quietly(scope: ReplayScope) -> None:
    try:
        scope.undo()
    except StorageError:
        pass  # the replay cache is down too; its key expires by itself


def _decide_and_record(
    connection: Connection, services: Services, delivery: Delivery, body: CallbackBody, jwt: SchemeVerdict,
    scope: ReplayScope, now: float,
) -> Outcome:
    request = deliveries.lock_request(connection, body.request_id)
    if request is not None and request.provider != registry.MESSAGEBIRD:
        request = None
    hmac_verdict = _check_hmac(services, delivery, request, now)
    may_record_token = request is not None and request.kind == body.request_kind and hmac_verdict.verdict != FAILED
    if may_record_token:
        jwt = _record_token(services, jwt, scope)
    outcome = _decide(services, request, body, jwt, hmac_verdict)
    row = _callback_row(delivery, body, outcome, now)
    if outcome.verdict == ACCEPTED and request is not None:
        outcome.callback_id = _record_accepted(connection, services, request, body, row, now)
    else:
        outcome.callback_id = deliveries.record_delivery(connection, row)
    return outcome


def _decide(
    services: Services, request: RequestHead | None, body: CallbackBody, jwt: SchemeVerdict, hmac: SchemeVerdict
) -> Outcome:
    def outcome(status: int, verdict: str, reason: str | None, description: str | None = None) -> Outcome:
        return Outcome(status, verdict, reason, body.request_id, body.request_kind, jwt=jwt, hmac=hmac,
                       description=description)

    failure = _signature_failure(services.settings.signature_policy, jwt, hmac, request is not None)
    if failure:
        return outcome(401, REJECTED, failure, NOT_ALLOWED)
    if request is None:
        return outcome(404, REJECTED, "unknown_request", "Unknown requestId")
    if request.kind != body.request_kind:
        return outcome(409, REJECTED, "kind_mismatch", "requestKind does not match the request")
    if request.state != lifecycle.SENT:
        return outcome(200, DUPLICATE, "already_received")
    return outcome(200, ACCEPTED, None)


def _signature_failure(policy: str, jwt: SchemeVerdict, hmac: SchemeVerdict, request_known: bool) -> str | None:
    """Why the signatures do not authorise the delivery, or None when they do."""
    if jwt.verdict == ABSENT and hmac.verdict == ABSENT:
        return "no_signature"
    for scheme, verdict in (("jwt", jwt), ("hmac", hmac)):
        if verdict.verdict == FAILED:
            return f"{scheme}_{verdict.reason}"
    if policy == "both" and ABSENT in (jwt.verdict, hmac.verdict):
        return "signature_missing"
    if request_known and PASSED not in (jwt.verdict, hmac.verdict):
        return "no_signature"
    return None


def _check_hmac(services: Services, delivery: Delivery, request: RequestHead | None, now: float) -> SchemeVerdict:
    if delivery.hmac_header is None:
        return SchemeVerdict(ABSENT)
    if request is None:
        return SchemeVerdict(UNCHECKED, "unknown_request")
    if not request.signature_key_sealed:
        return SchemeVerdict(FAILED, "no_signature_key")
    key = services.secrets.open(request.signature_key_sealed)
    try:
        verified = verify_hmac_signature(
            delivery.hmac_header,
            body=delivery.body,
            key=key,
            now=now,
            tolerance=services.settings.signature_tolerance_seconds,
        )
    except SignatureError as error:
        return SchemeVerdict(FAILED, error.reason)
    return SchemeVerdict(PASSED, key_encoding=getattr(verified, "key_encoding", None), timestamp=int(verified))


def _check_jwt(services: Services, delivery: Delivery, now: float) -> SchemeVerdict:
    """Every rule of the JWT but its replay, which ``_record_token`` checks inside the transaction."""
    if delivery.jwt_header is None:
        return SchemeVerdict(ABSENT)
    settings = services.settings
    try:
        claims = verify_jwt(
            delivery.jwt_header,
            url=delivery.url,
            body=delivery.body,
            keys=settings.messagebird_signing_key,
            now=now,
            leeway=settings.jwt_leeway_seconds,
            algorithms=settings.jwt_algorithms,
        )
    except SignatureError as error:
        return SchemeVerdict(FAILED, error.reason)
    return SchemeVerdict(PASSED, jwt_id=str(claims.get("jti"))[:200], claims=claims)


def _record_token(services: Services, jwt: SchemeVerdict, scope: ReplayScope) -> SchemeVerdict:
    """A verified token's ``jti`` recorded in the delivery's transaction; ``replayed`` when it was seen before.

    Recorded only for a delivery that names a known request of its kind with no failed
    HMAC, so a forgery cannot burn the ``jti`` of a genuine token.
    """
    if jwt.verdict != PASSED or jwt.claims is None:
        return jwt
    try:
        record_jti(scope, jwt.claims, leeway=services.settings.jwt_leeway_seconds)
    except SignatureError as error:
        return SchemeVerdict(FAILED, error.reason, jwt_id=jwt.jwt_id)
    return jwt


def _record_accepted(
    connection: Connection, services: Services, request: RequestHead, body: CallbackBody, row: dict[str, Any],
    now: float,
) -> int:
    """Record the accepted delivery and move its request on: completed, or its archive download queued."""
    result = _clip(body.result)
    moves = [lifecycle.Move(lifecycle.CALLBACK_RECEIVED, result)]
    download = None
    if request.kind in registry.DELETE_KINDS:
        moves.append(lifecycle.Move(lifecycle.COMPLETED, "erasure confirmed"))
    elif body.data is None:
        moves.append(lifecycle.Move(lifecycle.COMPLETED, "no personal data held"))
    else:
        download = ArchiveDownload(services.secrets.seal(json.dumps({"url": body.data})))
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    return deliveries.record_accepted(connection, request, row, moves, at=at, result=result, download=download)


def _callback_row(delivery: Delivery, body: CallbackBody | None, outcome: Outcome, now: float) -> dict[str, Any]:
    return dict(
        provider=registry.MESSAGEBIRD,
        request_id=body.request_id[:128] if body else None,
        request_kind=body.request_kind[:32] if body else None,
        received_at=dt.datetime.fromtimestamp(now, dt.UTC),
        remote_addr=(delivery.remote_addr or "")[:64] or None,
        http_request_id=delivery.http_request_id,
        body_sha256=hashlib.sha256(delivery.body).hexdigest(),
        body_bytes=len(delivery.body),
        verdict=outcome.verdict,
        reason=outcome.reason,
        status_code=outcome.status,
        jwt_verdict=outcome.jwt.verdict,
        jwt_reason=outcome.jwt.reason,
        jwt_id=outcome.jwt.jwt_id,
        hmac_verdict=outcome.hmac.verdict,
        hmac_reason=outcome.hmac.reason,
        hmac_key_encoding=outcome.hmac.key_encoding,
        hmac_timestamp=outcome.hmac.timestamp,
        has_archive_url=bool(body and body.data),
        result=_clip(body.result) if body else None,
    )


def _record_unparsed(services: Services, delivery: Delivery, outcome: Outcome, now: float) -> Outcome:
    """Record a refused delivery if the database lets us; the refusal stands either way."""
    try:
        with services.database.connection() as connection:
            outcome.callback_id = deliveries.record_delivery(connection, _callback_row(delivery, None, outcome, now))
    except StorageError as error:
        log.warning("callback.record_failed", reason=error.reason, status=outcome.status)
    return outcome


def record_refused(services: Services, delivery: Delivery, *, status: int, reason: str, description: str) -> Outcome:
    """Record a delivery the web layer refused before reading it (too large, wrong type)."""
    return _record_unparsed(services, delivery, Outcome(status, REJECTED, reason, description=description), time.time())


def _clip(text: str | None) -> str | None:
    return text[:MAX_RESULT_CHARS] if text else text
