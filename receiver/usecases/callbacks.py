"""Receiving a MessageBird Personal Data callback: verify, decide, record.

The web view (``receiver/web/webhooks.py``) hands over a ``CallbackDelivery``: the raw body,
the URL MessageBird signed and the two signature headers. ``receive`` answers with an
``Outcome``. What is kept of a delivery depends on what it proved:

- accepted (the request moves on, even from ``failed``) and duplicate (a genuine, newly
  signed repeat): a ``callbacks`` row, written together with the request's next state,
  its archive job and the delivery's replay keys (one statement on PostgreSQL, one
  transaction on SQLite: ``storage.deliveries``), so a 200 is only given for a callback
  that is durably recorded; an accepted one's row also holds its raw signed inputs,
  sealed (``storage.raw_inputs``), so its verification can be re-run;
- resent (every signature it carries was seen before: a sender's retry after our answer
  was lost, or a replay): 200 ``duplicate`` and nothing written or changed, so a
  captured callback replayed later cannot restart anything. With Redis as the replay
  cache, "seen" is confirmed by the database holding the delivery (one read, on a
  resend only): a key left by a process killed before its commit does not count;
- refused (4xx): nothing of its content, not even the request id it names; a count, a
  log event, and perhaps a sample (``storage.refusals``).

A refusal answers the same whether or not the delivery names a known request (401; 404
only after a JWT has verified). Refusals are cheap: a failed JWT or a missing signature is
refused before the database is touched; otherwise the request is read without a lock to
check the HMAC and decide, and a refusal writes nothing. The story: docs/callbacks.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases.answers import CallbackAnswer
from receiver.usecases.documents import CallbackBody, parse_json
from receiver.usecases.errors import UseCaseError
from storage import deliveries, lifecycle, raw_inputs, registry
from storage.deliveries import ArchiveDownload, RequestHead
from storage.errors import StorageError
from storage.raw_inputs import RawInputs
from storage.refusals import Refusal
from storage.replay import DeliveryKeys, ReplayScope
from verification import SignatureError, jti_replay_key, verify_hmac_signature, verify_jwt

#: Where MessageBird sends Personal Data callbacks; the URL given in each request is ``PUBLIC_URL`` + this.
MESSAGEBIRD_CALLBACK_PATH = "/webhooks/messagebird/personal-data"

PASSED, FAILED, ABSENT, UNCHECKED = "passed", "failed", "absent", "unchecked"
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
MAX_RESULT_CHARS = 2000
#: The one answer to every signature failure: the precise reason goes to the log, not to the caller.
NOT_ALLOWED = "Request not allowed (signature or credentials)"
#: An HMAC's replay key outlives its timestamp's tolerance by this much.
HMAC_REPLAY_MARGIN_SECONDS = 60
#: How many times a delivery's request is read again when it changed state before the delivery was recorded.
_READS = 5
#: A verified callback moves a request on from these states (a failed one too: its new archive URL is fetched).
_MAY_MOVE_ON = frozenset({lifecycle.SENT, lifecycle.FAILED})
_HMAC_PENDING = "hmac_pending"

log = get_logger(__name__)


@dataclass(frozen=True)
class CallbackDelivery:
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
    #: The verified HMAC's replay key and until when it must be kept.
    replay_key: tuple[str, float] | None = field(default=None, repr=False)


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

    def answer(self) -> CallbackAnswer:
        """The answer to a delivery accepted or found a duplicate (a refusal is answered as an error)."""
        return CallbackAnswer.model_construct(
            status=cast(Literal["accepted", "duplicate"], self.verdict), request_id=cast(str, self.request_id)
        )


def receive(services: Services, delivery: CallbackDelivery, *, now: float | None = None) -> Outcome:
    """Verify and record one delivery; raises ``StorageError`` when it cannot be recorded."""
    now = services.clock.timestamp() if now is None else now
    try:
        body = parse_json(CallbackBody, delivery.body)
    except UseCaseError as error:
        refused = Outcome(400, REJECTED, error.reason, description=error.message, parameter=error.parameter)
        return refuse(services, delivery, refused, now)
    jwt = _check_jwt(services, delivery, now)  # pure CPU, before the database is touched
    hmac = _absent_or_unchecked(delivery)
    failure = _signature_failure(services.settings.signature_policy, jwt, hmac)
    if failure not in (None, _HMAC_PENDING):  # the HMAC, if any, needs its request's key: read below
        return refuse(services, delivery, _unauthorized(body, jwt, hmac, failure), now)
    outcome = _decide_and_record(services, delivery, body, jwt, now)
    return refuse(services, delivery, outcome, now) if outcome.verdict == REJECTED else outcome


def refuse(services: Services, delivery: CallbackDelivery, outcome: Outcome, now: float) -> Outcome:
    """A refusal: nothing of the delivery is kept but, perhaps, a sample (time, reason, address, body hash)."""

    def described() -> Refusal:  # only for a refusal sampled: most are only counted
        return Refusal(
            received_at=dt.datetime.fromtimestamp(now, dt.UTC),
            status_code=outcome.status,
            reason=(outcome.reason or "refused")[:64],
            remote_addr=(delivery.remote_addr or "")[:64] or None,
            body_sha256=hashlib.sha256(delivery.body).hexdigest(),
            body_bytes=len(delivery.body),
        )

    services.refusal_samples.offer(described)
    return outcome


def record_refused(
    services: Services, delivery: CallbackDelivery, *, status: int, reason: str, description: str
) -> Outcome:
    """A delivery the web layer refused before reading it (too large, wrong type)."""
    refused = Outcome(status, REJECTED, reason, description=description)
    return refuse(services, delivery, refused, services.clock.timestamp())


def _decide_and_record(
    services: Services, delivery: CallbackDelivery, body: CallbackBody, jwt: SchemeVerdict, now: float
) -> Outcome:
    """Read the request (no lock, no writer's turn), check the HMAC against its key, decide, and record.

    Refusals write nothing. The record is written only if the request is still in the
    state the decision read; when it moved in between (a concurrent delivery, the
    reconciliation), read and decide again.
    """
    sealed: str | None = None
    for _ in range(_READS):
        request = deliveries.read_request(services.database, body.request_id)
        if request is not None and request.provider != registry.MESSAGEBIRD:
            request = None
        hmac = _check_hmac(services, delivery, request, now)
        outcome = _decide(services, request, body, jwt, hmac)
        if outcome.verdict == REJECTED or request is None:
            return outcome
        if outcome.verdict == ACCEPTED and sealed is None:
            sealed = _sealed_raw_inputs(services, delivery, now)  # kept with an accepted delivery
        try:
            return _record(services, delivery, body, request, outcome, sealed, now)
        except deliveries.RequestMoved:
            continue
    raise StorageError("unavailable", f"the request changed state {_READS} times while a delivery was recorded")


def _record(
    services: Services,
    delivery: CallbackDelivery,
    body: CallbackBody,
    request: RequestHead,
    outcome: Outcome,
    sealed_raw_inputs: str | None,
    now: float,
) -> Outcome:
    row = _callback_row(delivery, body, outcome, now)
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    if outcome.verdict == ACCEPTED:
        row["raw_inputs_sealed"] = sealed_raw_inputs
        new = _accepted(services, request, body, row, at)
    else:
        new = deliveries.NewDelivery(request, row, at)
    keys = _replay_keys(services, outcome.jwt, outcome.hmac)
    callback_id = _record_with_replay_keys(services, replace(new, replay=keys))
    if callback_id is None:
        return _resent(body, outcome.jwt, outcome.hmac)
    outcome.callback_id = callback_id
    return outcome


def _record_with_replay_keys(services: Services, new: deliveries.NewDelivery) -> int | None:
    """The database writes a delivery's keys with it; Redis gets them first, and loses them again if the record fails.

    A key Redis already holds proves only that some process set it: one killed before its
    commit (SIGKILL, OOM, gunicorn's timeout) leaves it with nothing recorded. So a delivery
    whose deciding key Redis knows is answered as resent only when the database holds it;
    otherwise it is recorded as new, and the keys Redis holds then stand for a record.
    When the request moved meanwhile the keys stay: the delivery is decided again, and
    another process may have recorded it on those very keys.
    """
    cache = services.replay_cache
    if new.replay is None or cache.writes_with_delivery:
        return deliveries.record(services.database, new)
    scope = cache.within(None)
    if not scope.record(new.replay) and deliveries.holds(services.database, _identity(new)):
        return None
    try:
        return deliveries.record(services.database, replace(new, replay=None))
    except StorageError:
        _undo_quietly(scope)
        raise


def _identity(new: deliveries.NewDelivery) -> deliveries.DeliveryIdentity:
    """The delivery as its deciding replay key names it (``_replay_keys``): a verified JWT's id, else the HMAC's."""
    row = new.row
    jwt_id = row["jwt_id"] if row["jwt_verdict"] == PASSED else None
    return deliveries.DeliveryIdentity(new.request.id, row["body_sha256"], jwt_id, row["hmac_timestamp"])


def _undo_quietly(scope: ReplayScope) -> None:
    with contextlib.suppress(StorageError):  # the replay cache is down too; its key expires by itself
        scope.undo()


def _resent(body: CallbackBody, jwt: SchemeVerdict, hmac: SchemeVerdict) -> Outcome:
    """Every signature it carries was seen before: 200 ``duplicate``, and nothing written or changed."""
    return _outcome(body, jwt, hmac, 200, DUPLICATE, "resent")


def _decide(
    services: Services, request: RequestHead | None, body: CallbackBody, jwt: SchemeVerdict, hmac: SchemeVerdict
) -> Outcome:
    failure = _signature_failure(services.settings.signature_policy, jwt, hmac)
    if failure:
        return _unauthorized(body, jwt, hmac, failure)
    if request is None:
        return _outcome(body, jwt, hmac, 404, REJECTED, "unknown_request", "Unknown requestId")
    if request.kind != body.request_kind:
        return _outcome(body, jwt, hmac, 409, REJECTED, "kind_mismatch", "requestKind does not match the request")
    if request.state in _MAY_MOVE_ON:
        return _outcome(body, jwt, hmac, 200, ACCEPTED, None)
    return _outcome(body, jwt, hmac, 200, DUPLICATE, "already_received")


def _outcome(
    body: CallbackBody,
    jwt: SchemeVerdict,
    hmac: SchemeVerdict,
    status: int,
    verdict: str,
    reason: str | None,
    description: str | None = None,
) -> Outcome:
    return Outcome(
        status, verdict, reason, body.request_id, body.request_kind, jwt=jwt, hmac=hmac, description=description
    )


def _unauthorized(body: CallbackBody, jwt: SchemeVerdict, hmac: SchemeVerdict, failure: str) -> Outcome:
    return _outcome(body, jwt, hmac, 401, REJECTED, failure, NOT_ALLOWED)


def _signature_failure(policy: str, jwt: SchemeVerdict, hmac: SchemeVerdict) -> str | None:
    """Why the signatures do not authorise the delivery, or None when they do.

    ``_HMAC_PENDING`` means only that the HMAC still has to be checked against its request's key.
    """
    if jwt.verdict == ABSENT and hmac.verdict == ABSENT:
        return "no_signature"
    for scheme, verdict in (("jwt", jwt), ("hmac", hmac)):
        if verdict.verdict == FAILED:
            return f"{scheme}_{verdict.reason}"
    if policy == "both" and ABSENT in (jwt.verdict, hmac.verdict):
        return "signature_missing"
    if PASSED not in (jwt.verdict, hmac.verdict):
        return _HMAC_PENDING if hmac.verdict == UNCHECKED and hmac.reason is None else "unverified"
    return None


def _absent_or_unchecked(delivery: CallbackDelivery) -> SchemeVerdict:
    return SchemeVerdict(ABSENT) if delivery.hmac_header is None else SchemeVerdict(UNCHECKED)


def _check_hmac(
    services: Services, delivery: CallbackDelivery, request: RequestHead | None, now: float
) -> SchemeVerdict:
    if delivery.hmac_header is None:
        return SchemeVerdict(ABSENT)
    if request is None:
        return SchemeVerdict(UNCHECKED, "unknown_request")  # no key to check it with: unverified
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
    expires_at = int(verified) + services.settings.signature_tolerance_seconds + HMAC_REPLAY_MARGIN_SECONDS
    return SchemeVerdict(
        PASSED,
        key_encoding=verified.key_encoding,
        timestamp=int(verified),
        replay_key=(verified.replay_key, float(expires_at)),
    )


def _check_jwt(services: Services, delivery: CallbackDelivery, now: float) -> SchemeVerdict:
    """Every rule of the JWT but its replay: its key is recorded with the delivery (``_replay_keys``)."""
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


def _replay_keys(services: Services, jwt: SchemeVerdict, hmac: SchemeVerdict) -> DeliveryKeys | None:
    """The replay keys of each scheme that passed, and the one that decides whether the delivery is new.

    A verified JWT decides: only MessageBird can sign a fresh ``jti``. Without one, the
    HMAC's key (its timestamp and signature) decides. Both keys are recorded, so a
    resend stripped of its JWT is still known. Keys are recorded only for a delivery
    that names a known request of its kind with every signature it carries verified,
    so a forgery cannot burn a genuine token's key.
    """
    hmac_key = hmac.replay_key if hmac.verdict == PASSED else None
    if jwt.verdict == PASSED and jwt.claims is not None:
        jti_key = jti_replay_key(jwt.claims, leeway=services.settings.jwt_leeway_seconds)
        return DeliveryKeys(jti_key, (hmac_key,) if hmac_key else (), now=services.replay_cache.now())
    return DeliveryKeys(hmac_key, now=services.replay_cache.now()) if hmac_key else None


def _accepted(
    services: Services, request: RequestHead, body: CallbackBody, row: dict[str, Any], at: dt.datetime
) -> deliveries.NewDelivery:
    """An accepted delivery and its request's moves: completed, or its archive download queued."""
    result = _clip(body.result)
    moves = [lifecycle.Move(lifecycle.CALLBACK_RECEIVED, result)]
    download = None
    if request.kind in registry.DELETE_KINDS:
        moves.append(lifecycle.Move(lifecycle.COMPLETED, "erasure confirmed"))
    elif body.data is None:
        moves.append(lifecycle.Move(lifecycle.COMPLETED, "no personal data held"))
    else:
        download = ArchiveDownload(services.secrets.seal(json.dumps({"url": body.data})))
    return deliveries.NewDelivery(request, row, at, moves=moves, result=result, download=download)


def _sealed_raw_inputs(services: Services, delivery: CallbackDelivery, now: float) -> str:
    """What this accepted delivery's verification read, sealed: ``flask evidence reverify`` runs it again."""
    raw = RawInputs(
        url=delivery.url,
        jwt_header=delivery.jwt_header,
        hmac_header=delivery.hmac_header,
        body=delivery.body,
        verified_at=now,
    )
    return raw_inputs.seal(services.secrets, raw)


def _callback_row(
    delivery: CallbackDelivery, body: CallbackBody | None, outcome: Outcome, now: float
) -> dict[str, Any]:
    return {
        "provider": registry.MESSAGEBIRD,
        "request_id": body.request_id[:128] if body else None,
        "request_kind": body.request_kind[:32] if body else None,
        "received_at": dt.datetime.fromtimestamp(now, dt.UTC),
        "remote_addr": (delivery.remote_addr or "")[:64] or None,
        "http_request_id": delivery.http_request_id,
        "body_sha256": hashlib.sha256(delivery.body).hexdigest(),
        "body_bytes": len(delivery.body),
        "verdict": outcome.verdict,
        "reason": outcome.reason,
        "status_code": outcome.status,
        "jwt_verdict": outcome.jwt.verdict,
        "jwt_reason": outcome.jwt.reason,
        "jwt_id": outcome.jwt.jwt_id,
        "hmac_verdict": outcome.hmac.verdict,
        "hmac_reason": outcome.hmac.reason,
        "hmac_key_encoding": outcome.hmac.key_encoding,
        "hmac_timestamp": outcome.hmac.timestamp,
        "has_archive_url": bool(body and body.data),
        "result": _clip(body.result) if body else None,
    }


def _clip(text: str | None) -> str | None:
    return text[:MAX_RESULT_CHARS] if text else text
