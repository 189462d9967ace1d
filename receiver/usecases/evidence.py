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
the HMAC while it is kept. ``recheck`` is that check, without I/O. It also binds the
inputs to the record they stand behind, each mismatch a named failure (``Mismatch``):
the body's SHA-256 is the row's, and the row is the one the audit chain sealed; the
body's ``requestId`` and ``requestKind`` are the row's request's; the JWT's ``jti`` is
the row's; the URL the JWT was checked against is the callback route under ``PUBLIC_URL``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.timestamping import TimestampError
from receiver.usecases import audit
from receiver.usecases.callbacks import MESSAGEBIRD_CALLBACK_PATH
from receiver.usecases.case_views import view_case
from receiver.usecases.errors import UseCaseError
from receiver.usecases.evidence_pack import (
    EVIDENCE_EXPORTED,
    MANIFEST_NAME,
    NOT_STAMPED_NAME,
    STAMP_NAME,
    ChainExcerpt,
    Pack,
    evidence_document,
    pack_files,
    zip_pack,
)
from receiver.usecases.people import roles_text
from storage import audit_chain, case_registry, people, raw_inputs, registry, tokens
from storage.anchors import Anchor
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
    today = today or services.clock.today()
    anchored = audit.anchor(services)  # seals first; an authority that is down costs one bounded wait
    with services.database.reading_session(one_snapshot=True) as session:
        case = _case(session, case_id)
        requests = case_registry.requests_of(session, case_id)
        view = view_case(
            case, [r.state for r in requests], today=today, margin_days=services.settings.processor_margin_days
        )
        callbacks = {r.id: registry.callbacks_of(session, r.id) for r in requests}
        roles = {token.name: token.role for token in tokens.all_tokens(session)}
        roles.update(people_roles(session))
        excerpt = _chain_excerpt(services, session.connection(), case_id, anchored.anchor, anchored.failure)
        files = pack_files(evidence_document(view, requests, callbacks, roles), excerpt)
    pack = zip_pack(_time_stamped(services, files))
    with services.database.transaction() as session:
        case_registry.record_event(
            _case(session, case_id),
            actor=actor,
            kind=EVIDENCE_EXPORTED,
            changed="evidencePack",
            to_value=pack.sha256,
            reason=f"evidence pack exported: {len(pack.data)} bytes, SHA-256 {pack.sha256}",
        )
    log.info(
        "evidence.exported", case_id=case_id, sha256=pack.sha256, bytes=len(pack.data), time_stamped=pack.time_stamped
    )
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


def _chain_excerpt(
    services: Services, connection: Connection, case_id: str, anchor: Anchor | None, failure: str | None
) -> ChainExcerpt:
    """The case's entries, with their audit paths in the anchor's tree (entries sealed after it get none)."""
    entries = audit_chain.case_entries(connection, case_id, exclude_kinds=(EVIDENCE_EXPORTED,))
    proofs: dict[int, list[str]] = {}
    if anchor is not None:
        digests = audit_chain.digests_through(connection, anchor.seq)
        paths = audit_chain.inclusion_proofs(digests, [e.seq - 1 for e in entries if e.seq <= anchor.seq])
        proofs = {index + 1: path for index, path in paths.items()}
    ca_file = services.settings.audit_tsa_ca_file
    return ChainExcerpt(
        entries,
        anchor,
        proofs,
        ca_pem=Path(ca_file).read_bytes() if ca_file and anchor is not None else None,
        unanchored=None if anchor is not None else failure,
    )


def _time_stamped(services: Services, files: dict[str, bytes]) -> dict[str, bytes]:
    """The files with the authority's time-stamp over ``manifest.json``, or a note saying why there is none."""
    if not services.timestamper.configured:
        return {**files, NOT_STAMPED_NAME: b"No time-stamping authority is configured (AUDIT_TSA_URL).\n"}
    try:
        stamp = services.timestamper.stamp(files[MANIFEST_NAME])
    except TimestampError as error:
        log.warning("evidence.not_time_stamped", reason=error.reason)
        return {**files, NOT_STAMPED_NAME: f"The time-stamping authority did not answer: {error.message}\n".encode()}
    return {**files, STAMP_NAME: stamp.reply}


def _case(session: Session, case_id: str) -> Case:
    case = case_registry.find_whole(session, case_id)
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
class Mismatch:
    """Kept inputs that do not belong to the record they stand behind: a reason code and what differs."""

    reason: str
    detail: str


#: The reasons a callback's kept inputs are not bound to its record.
BODY_NOT_RECORDED = "body_not_recorded"
RECORD_NOT_SEALED = "record_not_sealed"
BODY_NOT_A_CALLBACK = "body_not_a_callback"
REQUEST_ID_DIFFERS = "request_id_differs"
REQUEST_KIND_DIFFERS = "request_kind_differs"
JTI_DIFFERS = "jti_differs"
URL_NOT_THE_ROUTE = "url_not_the_callback_route"


@dataclass(frozen=True)
class Record:
    """What the kept inputs must agree with: the callback's request, the route it came to, the row's seal."""

    request_id: str
    request_kind: str
    callback_url: str
    #: The callbacks row as it is matches its last sealed version in the audit chain (None: not sealed yet).
    sealed: bool | None


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
    mismatches: tuple[Mismatch, ...] = ()

    @property
    def verified(self) -> bool:
        """Checked, bound to its record (the body is the one recorded), no scheme fails and at least one passes."""
        if self.missing is not None or not self.body_matches or self.jwt is None or self.hmac is None:
            return False
        if self.mismatches:
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


def recheck(raw: RawInputs, callback: Callback, keys: Keys, record: Record) -> Recheck:
    """Run both schemes' verification again on ``raw``, at the moment it first ran, and bind it to ``record``.

    Pure: no I/O.
    """
    body_matches = hashlib.sha256(raw.body).hexdigest() == callback.body_sha256
    jwt_verdict, jwt_reason, claims = _jwt_verdict(raw, keys)
    return Recheck(
        callback.request_id or "",
        callback.id,
        callback.received_at,
        body_matches=body_matches,
        jwt=SchemeCheck(callback.jwt_verdict, jwt_verdict, jwt_reason),
        hmac=SchemeCheck(callback.hmac_verdict, *_hmac_verdict(raw, keys)),
        mismatches=tuple(_mismatches(raw, callback, record, body_matches=body_matches, claims=claims)),
    )


def _mismatches(
    raw: RawInputs, callback: Callback, record: Record, *, body_matches: bool, claims: dict[str, object] | None
) -> list[Mismatch]:
    found = []
    if not body_matches:
        found.append(Mismatch(BODY_NOT_RECORDED, "the body's SHA-256 is not the one recorded"))
    if record.sealed is False:
        found.append(Mismatch(RECORD_NOT_SEALED, "the callback's row is not the one the audit chain sealed"))
    found.extend(_body_mismatches(raw.body, record))
    if claims is not None and claims.get("jti") != callback.jwt_id:
        found.append(Mismatch(JTI_DIFFERS, "the JWT's jti is not the one recorded for this callback"))
    if raw.jwt_header is not None and claims is None and callback.jwt_id is not None:
        found.append(Mismatch(JTI_DIFFERS, "the JWT does not verify, so its jti cannot be the one recorded"))
    if _route(raw.url) != _route(record.callback_url):
        found.append(Mismatch(URL_NOT_THE_ROUTE, f"the URL verified is not {record.callback_url}"))
    return found


def _body_mismatches(body: bytes, record: Record) -> list[Mismatch]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return [Mismatch(BODY_NOT_A_CALLBACK, "the body is not a callback's JSON object")]
    found = []
    if document.get("requestId") != record.request_id:
        found.append(Mismatch(REQUEST_ID_DIFFERS, f"the body's requestId is not {record.request_id}"))
    if document.get("requestKind") != record.request_kind:
        found.append(Mismatch(REQUEST_KIND_DIFFERS, f"the body's requestKind is not {record.request_kind}"))
    return found


def _route(url: str) -> tuple[str, str, str]:
    """Scheme, host and path: the query a sender may add is not part of the route."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path


def _jwt_verdict(raw: RawInputs, keys: Keys) -> tuple[str, str | None, dict[str, object] | None]:
    if raw.jwt_header is None:
        return ABSENT, None, None
    try:
        claims = verify_jwt(
            raw.jwt_header,
            url=raw.url,
            body=raw.body,
            keys=keys.signing_keys,
            now=raw.verified_at,
            leeway=keys.leeway,
            algorithms=keys.algorithms,
        )
    except SignatureError as error:
        return FAILED, error.reason, None
    return PASSED, None, claims


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
            for r in case_registry.requests_of(session, case_id)
            for c in registry.callbacks_of(session, r.id)
            if c.verdict == "accepted"
        ]
        connection = session.connection()
        return [
            _reverify(
                services, request, callback, sealed=audit_chain.matches_seal(connection, "callbacks", callback.id)
            )
            for request, callback in found
        ]


def _reverify(services: Services, request: ProcessorRequest, callback: Callback, *, sealed: bool | None) -> Recheck:
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
    record = Record(request.id, request.kind, settings.public_url + MESSAGEBIRD_CALLBACK_PATH, sealed)
    return recheck(raw, callback, keys, record)


def _missing(callback: Callback, why: str) -> Recheck:
    return Recheck(callback.request_id or "", callback.id, callback.received_at, missing=why)


def _why_not_kept(request: ProcessorRequest) -> str:
    if request.archive_deleted_at is not None:
        return f"its raw inputs were erased with the archive on {request.archive_deleted_at:%Y-%m-%d}"
    return "its raw inputs are not kept (erased, or received before they were kept)"
