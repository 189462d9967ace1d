"""Evidence an auditor can check: a case's evidence pack, and its callbacks' signatures verified again.

``export_pack`` seals the audit chain first (every row committed before the export is
chained), then reads the case, its requests and their callbacks in one reading
transaction that sees one snapshot (REPEATABLE READ on PostgreSQL), assembles the
pack (``evidence_pack``, pure) and records its SHA-256 in the case's history
(``evidence_exported``, naming the actor): a pack whose export cannot be recorded
is not handed out, and a later copy that differs from
every recorded SHA-256 has been altered.

``reverify_case`` opens each accepted callback's kept raw inputs
(``storage.raw_inputs``) and runs the pure verification core on them again, as it
ran then (the moment of the check is kept with them), with the keys the service
holds now: ``MESSAGEBIRD_SIGNING_KEY`` for the JWT, the request's signature key for
the HMAC while it is kept. ``recheck`` is that check, without I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import audit
from receiver.usecases import cases as case_usecases
from receiver.usecases.case_views import view_case
from receiver.usecases.errors import UseCaseError
from receiver.usecases.evidence_pack import EVIDENCE_EXPORTED, Pack, evidence_document, pack_zip
from receiver.usecases.people import roles_text
from storage import cases, people, raw_inputs, registry, tokens
from storage.errors import StorageError
from storage.models import Callback, Case, ProcessorRequest
from storage.raw_inputs import RawInputs
from verification import SignatureError, verify_hmac_signature, verify_jwt

PASSED, FAILED, ABSENT, UNAVAILABLE = "passed", "failed", "absent", "unavailable"

log = get_logger(__name__)


# -- the pack --------------------------------------------------------------------------------


def export_pack(services: Services, case_id: str, *, actor: str, today: dt.date | None = None) -> Pack:
    """The case's evidence pack, its SHA-256 recorded in the case's history; ``not_found`` for an unknown case.

    The chain is sealed first; the pack is read in one snapshot (a callback committed meanwhile is in
    all of it or none of it) and assembled in a reading transaction (on SQLite it holds up no callback),
    then recorded in a short write: a pack is handed out only once its SHA-256 is recorded.
    """
    today = today or case_usecases.today_utc()
    audit.seal(services)
    with services.database.reading_session(one_snapshot=True) as session:
        case = _case(session, case_id)
        requests = cases.requests_of(session, case_id)
        view = view_case(
            case, [r.state for r in requests], today=today, margin_days=services.settings.processor_margin_days
        )
        callbacks = {r.id: registry.callbacks_of(session, r.id) for r in requests}
        roles = {token.name: token.role for token in tokens.all_tokens(session)}
        roles.update(people_roles(session))
        pack = pack_zip(evidence_document(view, requests, callbacks, roles))
    with services.database.transaction() as session:
        cases.record_event(
            _case(session, case_id),
            actor=actor,
            kind=EVIDENCE_EXPORTED,
            changed="evidencePack",
            to_value=pack.sha256,
            reason=f"evidence pack exported: {len(pack.data)} bytes, SHA-256 {pack.sha256}",
        )
    log.info("evidence.exported", case_id=case_id, sha256=pack.sha256, bytes=len(pack.data))
    return pack


def people_roles(session: Session) -> dict[str, str]:
    """Each person who signed in through the identity provider, by actor: the roles they held and their name."""
    everyone = people.all_people(session)
    held = people.roles_held(session, [person.id for person in everyone])
    return {
        people.actor_of(
            person
        ): f"{roles_text(held[person.id])}: {person.name} (signed in through the identity provider)"
        for person in everyone
    }


def _case(session: Session, case_id: str) -> Case:
    case = cases.find_whole(session, case_id)
    if case is None:
        raise UseCaseError("not_found", "no case with this id")
    return case


# -- verifying again -------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemeCheck:
    """One scheme of one callback: the verdict recorded on receipt, and the verdict of the check run again."""

    recorded: str
    verdict: str
    reason: str | None = None


@dataclass(frozen=True)
class Recheck:
    """One accepted callback verified again, or why it could not be."""

    request_id: str
    callback_id: int
    received_at: dt.datetime
    #: Why nothing could be checked (inputs erased or never kept, or not opening); None when they were checked.
    missing: str | None = None
    body_matches: bool | None = None
    jwt: SchemeCheck | None = None
    hmac: SchemeCheck | None = None

    @property
    def verified(self) -> bool:
        """Checked, the body is the one recorded, no scheme fails and at least one passes."""
        if self.missing is not None or not self.body_matches or self.jwt is None or self.hmac is None:
            return False
        verdicts = (self.jwt.verdict, self.hmac.verdict)
        return FAILED not in verdicts and PASSED in verdicts


@dataclass(frozen=True)
class Keys:
    """What the check needs besides the inputs: the keys and the tolerances in force."""

    signing_keys: Sequence[str]
    signature_key: str | None
    algorithms: Sequence[str]
    leeway: int
    tolerance: int


def recheck(raw: RawInputs, callback: Callback, keys: Keys) -> Recheck:
    """Run both schemes' verification again on ``raw``, at the moment it first ran (pure: no I/O)."""
    body_matches = hashlib.sha256(raw.body).hexdigest() == callback.body_sha256
    return Recheck(
        callback.request_id or "",
        callback.id,
        callback.received_at,
        body_matches=body_matches,
        jwt=SchemeCheck(callback.jwt_verdict, *_jwt_verdict(raw, keys)),
        hmac=SchemeCheck(callback.hmac_verdict, *_hmac_verdict(raw, keys)),
    )


def _jwt_verdict(raw: RawInputs, keys: Keys) -> tuple[str, str | None]:
    if raw.jwt_header is None:
        return ABSENT, None
    try:
        verify_jwt(
            raw.jwt_header,
            url=raw.url,
            body=raw.body,
            keys=keys.signing_keys,
            now=raw.verified_at,
            leeway=keys.leeway,
            algorithms=keys.algorithms,
        )
    except SignatureError as error:
        return FAILED, error.reason
    return PASSED, None


def _hmac_verdict(raw: RawInputs, keys: Keys) -> tuple[str, str | None]:
    if raw.hmac_header is None:
        return ABSENT, None
    if keys.signature_key is None:
        return UNAVAILABLE, "signature_key_erased"
    try:
        verify_hmac_signature(
            raw.hmac_header, body=raw.body, key=keys.signature_key, now=raw.verified_at, tolerance=keys.tolerance
        )
    except SignatureError as error:
        return FAILED, error.reason
    return PASSED, None


def reverify_case(services: Services, case_id: str) -> list[Recheck]:
    """Every accepted callback of the case's requests verified again, oldest first; ``not_found`` for no case."""
    with services.database.reading_session(one_snapshot=True) as session:
        _case(session, case_id)
        found = [
            (r, c)
            for r in cases.requests_of(session, case_id)
            for c in registry.callbacks_of(session, r.id)
            if c.verdict == "accepted"
        ]
        return [_reverify(services, request, callback) for request, callback in found]


def _reverify(services: Services, request: ProcessorRequest, callback: Callback) -> Recheck:
    if callback.raw_inputs_sealed is None:
        return _missing(callback, _why_not_kept(request))
    try:
        raw = raw_inputs.unseal(services.secrets, callback.raw_inputs_sealed)
        signature_key = services.secrets.open(request.signature_key_sealed) if request.signature_key_sealed else None
    except StorageError as error:
        return _missing(callback, f"its kept inputs do not open: {error.message}")
    settings = services.settings
    keys = Keys(
        settings.messagebird_signing_key,
        signature_key,
        settings.jwt_algorithms,
        settings.jwt_leeway_seconds,
        settings.signature_tolerance_seconds,
    )
    return recheck(raw, callback, keys)


def _missing(callback: Callback, why: str) -> Recheck:
    return Recheck(callback.request_id or "", callback.id, callback.received_at, missing=why)


def _why_not_kept(request: ProcessorRequest) -> str:
    if request.archive_deleted_at is not None:
        return f"its raw inputs were erased with the archive on {request.archive_deleted_at:%Y-%m-%d}"
    return "its raw inputs are not kept (erased, or received before they were kept)"
