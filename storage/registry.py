"""The request registry: store, find and list requests and the callbacks that reached them.

Every function takes the caller's session, so a caller composes several of them
into one transaction (the callback endpoint records, moves and enqueues at once).

A request we send is registered before it is sent, as an intent in state
``sending`` under an id of our own (``register(..., sending=True)``), and
``record_answer`` gives it the provider's id once the answer is known. The
reconciliation's reads (``awaiting_provider``, ``sending_intents``,
``failed_downloads``) lock the rows they return, skipping rows another
transaction holds (a callback being recorded), so the two never overwrite each
other; ``known_ids`` looks up a whole listing in one query.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import Select, and_, delete, exists, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from storage import case_registry, jobs, lifecycle
from storage.clock import clock_of
from storage.errors import StorageError
from storage.models import Callback, Job, ProcessorRequest, RequestEvent, Transition

MESSAGEBIRD = "messagebird"
VOODOOSMS = "voodoosms"
PROVIDERS = (MESSAGEBIRD, VOODOOSMS)

#: MessageBird's request kinds (its Personal Data API's ``kind``): the one list the service names them in, by
#: MessageBird's pattern ``KIND_<whose data>_<what is asked>``. The use cases' documents and answers, the console's
#: form and the subject's texts take them from here.
Kind = Literal["KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE", "KIND_USER_GET", "KIND_USER_DELETE"]
KINDS: tuple[Kind, ...] = get_args(Kind)
GET_KINDS = frozenset(kind for kind in KINDS if kind.endswith("_GET"))
DELETE_KINDS = frozenset(kind for kind in KINDS if kind.endswith("_DELETE"))
#: The kinds about a value (``field``/``value``); the others are about the account itself.
PERSONAL_KINDS = frozenset(kind for kind in KINDS if kind.startswith("KIND_PERSONAL_"))
#: The one kind of VoodooSMS's requests: forget a phone number.
ForgetKind = Literal["FORGET"]
VOODOOSMS_FORGET: ForgetKind = "FORGET"
#: The ids we give intents: never a provider's (MessageBird's are hex, VoodooSMS's alphanumeric).
INTENT_PREFIX = "intent-"
#: Ids per query when a listing is looked up (well under every backend's parameter limit).
LOOKUP_BATCH = 2000


@dataclass(frozen=True)
class NewRequest:
    """What the registry needs to know of a request created at a provider."""

    id: str
    provider: str
    kind: str
    field: str | None = None
    value_hash: str | None = None
    reason: str | None = None
    subject_ref: str | None = None
    signature_key_sealed: str | None = None
    provider_state: str | None = None
    provider_created_at: dt.datetime | None = None
    #: The case the request is part of, if any: it must exist and be open.
    case_id: str | None = None
    #: The operator who sent or imported it (the actor of its first transition).
    registered_by: str | None = None


def new_intent_id() -> str:
    return INTENT_PREFIX + uuid.uuid4().hex


def register(session: Session, new: NewRequest, *, sending: bool = False) -> ProcessorRequest:
    """Store a new request in state ``sent``; ``conflict`` if its id is already known.

    ``sending=True`` stores the intent of a request about to be sent, in state
    ``sending``, under ``new.id`` (from ``new_intent_id()``), which it keeps as ``intent_id``.
    """
    if session.get(ProcessorRequest, new.id) is not None:
        raise StorageError("conflict", "a request with this id is already registered")
    request = new_request(session, new, sending=sending)
    session.add(request)
    session.flush()
    return request


def register_many(session: Session, news: Collection[NewRequest]) -> None:
    """Store many new requests in state ``sent`` at once (an import of thousands): one query for the ids
    already known (``conflict`` naming how many), one flush for them all."""
    known = known_ids(session, [new.id for new in news])
    if known or len({new.id for new in news}) != len(news):
        raise StorageError("conflict", f"{len(known) or 'some'} of these request ids are registered or repeated")
    session.add_all([new_request(session, new) for new in news])
    session.flush()


def new_request(session: Session, new: NewRequest, *, sending: bool = False) -> ProcessorRequest:
    """The request ``new`` describes, with its first transition (and its case's entry), not yet added."""
    request = ProcessorRequest(
        id=new.id,
        intent_id=new.id if sending else None,
        provider=new.provider,
        kind=new.kind,
        field=new.field,
        value_hash=new.value_hash,
        reason=new.reason,
        subject_ref=new.subject_ref,
        signature_key_sealed=new.signature_key_sealed,
        provider_state=new.provider_state,
        provider_created_at=new.provider_created_at,
        callback_missing=False,
    )
    now = clock_of(session).now()
    if sending:
        lifecycle.start(
            request, state=lifecycle.SENDING, reason="recorded before sending", actor=new.registered_by, at=now
        )
    else:
        lifecycle.start(request, actor=new.registered_by, at=now)
    if new.case_id is not None:
        case_registry.add_request(session, new.case_id, request, actor=new.registered_by)
    return request


@dataclass(frozen=True)
class ProviderAnswer:
    """What the provider said it created for an intent: its id and what comes with it."""

    id: str
    signature_key_sealed: str | None = None
    provider_state: str | None = None
    provider_created_at: dt.datetime | None = None


def record_answer(session: Session, intent_id: str, answer: ProviderAnswer, *, reason: str) -> ProcessorRequest:
    """Give the intent ``intent_id`` the provider's id and move it to ``sent``.

    Idempotent: an intent already resolved to ``answer.id`` (reconciliation was
    first) is returned as it is. ``conflict`` when the intent was resolved
    otherwise (failed, or to another id), or ``answer.id`` belongs to another request.
    """
    intent = find(session, intent_id, for_update=True)
    if intent is None or intent.state != lifecycle.SENDING:
        resolved = session.scalars(select(ProcessorRequest).where(ProcessorRequest.intent_id == intent_id)).first()
        if resolved is not None and resolved.id == answer.id:
            return resolved
        raise StorageError("conflict", "the intent is no longer waiting for its answer")
    if session.get(ProcessorRequest, answer.id) is not None:
        raise StorageError("conflict", "the provider's id is already registered")
    request = _renamed(session, intent, answer.id)
    request.signature_key_sealed = answer.signature_key_sealed
    request.provider_state = answer.provider_state
    request.provider_created_at = answer.provider_created_at
    lifecycle.move(request, lifecycle.SENT, reason=reason)
    session.flush()
    return request


def remove_intent(session: Session, intent_id: str, *, actor: str | None = None, reason: str | None = None) -> bool:
    """Delete an intent still ``sending``, with its transition (the provider refused it: nothing exists there).

    Its case's history, which said the request was added, says why it was not made.
    """
    intent = find(session, intent_id, for_update=True)
    if intent is None or intent.state != lifecycle.SENDING:
        return False
    if intent.case_id is not None:
        case_registry.refuse_request(session, intent.case_id, intent, actor=actor, reason=reason)
    session.delete(intent)
    session.flush()
    return True


def _renamed(session: Session, intent: ProcessorRequest, new_id: str) -> ProcessorRequest:
    """The intent's row under ``new_id``, its transitions and jobs with it (a primary key is not updated in place)."""
    table = ProcessorRequest.__table__
    values = {column.key: getattr(intent, column.key) for column in table.columns}
    old_id = intent.id
    session.expunge(intent)
    session.execute(update(table).where(table.c.id == old_id).values(intent_id=None))
    session.execute(insert(table).values({**values, "id": new_id}))
    for child in (Transition.__table__, Job.__table__):
        session.execute(update(child).where(child.c.request_id == old_id).values(request_id=new_id))
    session.execute(delete(table).where(table.c.id == old_id))
    renamed = session.get(ProcessorRequest, new_id)
    assert renamed is not None  # inserted just above, in this transaction
    return renamed


def find(session: Session, request_id: str, *, for_update: bool = False) -> ProcessorRequest | None:
    statement = select(ProcessorRequest).where(ProcessorRequest.id == request_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def get(session: Session, request_id: str) -> ProcessorRequest:
    """The request with this id, or with this intent id (what the admin API answered before the provider did)."""
    named = or_(ProcessorRequest.id == request_id, ProcessorRequest.intent_id == request_id)
    request = session.scalars(
        select(ProcessorRequest).where(named).options(selectinload(ProcessorRequest.transitions))
    ).first()
    if request is None:
        raise StorageError("not_found", "no request with this id")
    return request


def awaiting_provider(session: Session, provider: str) -> Sequence[ProcessorRequest]:
    """The provider's requests still in state ``sent``, locked (see ``_locked``)."""
    statement = select(ProcessorRequest).where(
        ProcessorRequest.provider == provider, ProcessorRequest.state == lifecycle.SENT
    )
    return _locked(session, statement.order_by(ProcessorRequest.created_at), lifecycle.SENT)


def sending_intents(session: Session, provider: str, *, lock: bool = True) -> Sequence[ProcessorRequest]:
    """The provider's intents still ``sending`` (their answer not recorded), oldest first, locked unless
    ``lock=False``."""
    statement = select(ProcessorRequest).where(
        ProcessorRequest.provider == provider, ProcessorRequest.state == lifecycle.SENDING
    )
    statement = statement.order_by(ProcessorRequest.created_at, ProcessorRequest.id)
    return _locked(session, statement, lifecycle.SENDING) if lock else session.scalars(statement).all()


def failed_downloads(session: Session, provider: str, among: Collection[str]) -> list[ProcessorRequest]:
    """Those of the requests ``among`` that are access requests ``failed`` because their download failed, locked.

    Not those whose secrets the retention policy erased: with the failed URL gone, a URL in the
    listing cannot be told new, and the request's time to be moved on is over.
    """
    download_failed = exists().where(
        Job.request_id == ProcessorRequest.id, Job.kind == jobs.ARCHIVE, Job.state == jobs.FAILED
    )
    wanted, found = sorted(set(among)), []
    for start in range(0, len(wanted), LOOKUP_BATCH):
        statement = select(ProcessorRequest).where(
            ProcessorRequest.id.in_(wanted[start : start + LOOKUP_BATCH]),
            ProcessorRequest.provider == provider,
            ProcessorRequest.state == lifecycle.FAILED,
            ProcessorRequest.kind.in_(GET_KINDS),
            download_failed,
            ProcessorRequest.secrets_erased_at.is_(None),
        )
        found += _locked(session, statement.order_by(ProcessorRequest.id), lifecycle.FAILED)
    return found


def _locked(session: Session, statement: Select[ProcessorRequest], state: str) -> list[ProcessorRequest]:
    """The rows ``statement`` selects, each locked until the transaction ends, and still in ``state``.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so a row a callback is recording right now is
    left to that callback (its lock is held until it commits) instead of waited for and
    overwritten. SQLite: the transaction already holds the database's one write lock.
    The state is checked again on the rows as locked (``populate_existing``: never a stale copy).
    """
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = session.scalars(statement.execution_options(populate_existing=True)).all()
    return [row for row in rows if row.state == state]


def known_ids(session: Session, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` the registry holds: one query per ``LOOKUP_BATCH`` ids, not one per id."""
    wanted, known = sorted(set(ids)), set[str]()
    for start in range(0, len(wanted), LOOKUP_BATCH):
        batch = wanted[start : start + LOOKUP_BATCH]
        known.update(session.scalars(select(ProcessorRequest.id).where(ProcessorRequest.id.in_(batch))))
    return known


def archive_payloads(session: Session, request_ids: Collection[str]) -> dict[str, str]:
    """Each request's newest archive job's sealed payload (the URL it downloaded from), in one query."""
    statement = (
        select(Job.request_id, Job.payload_sealed)
        .where(Job.kind == jobs.ARCHIVE, Job.request_id.in_(list(request_ids)), Job.payload_sealed.is_not(None))
        .order_by(Job.id)
    )
    if not request_ids:
        return {}
    rows = session.execute(statement)
    # the query selects no NULL; the test tells the type checker so
    return {request_id: payload for request_id, payload in rows if request_id is not None and payload is not None}


def ids_with_value_hash(session: Session, value_hash: str, *, limit: int = 20) -> list[str]:
    """The ids of the newest requests about the same personal data value (a keyed hash)."""
    statement = select(ProcessorRequest.id).where(ProcessorRequest.value_hash == value_hash)
    return list(session.scalars(statement.order_by(ProcessorRequest.created_at.desc()).limit(limit)))


def callbacks_of(session: Session, request_id: str) -> Sequence[Callback]:
    return session.scalars(select(Callback).where(Callback.request_id == request_id).order_by(Callback.id)).all()


@dataclass(frozen=True)
class Page:
    requests: Sequence[ProcessorRequest]
    next_cursor: str | None


def list_page(
    session: Session,
    *,
    state: str | None = None,
    kind: str | None = None,
    provider: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    callback_missing: bool | None = None,
) -> Page:
    """Requests newest first, ``limit`` at a time; ``cursor`` continues a previous page."""
    statement = select(ProcessorRequest).order_by(ProcessorRequest.created_at.desc(), ProcessorRequest.id.desc())
    filters = (
        (ProcessorRequest.state, state),
        (ProcessorRequest.kind, kind),
        (ProcessorRequest.provider, provider),
        (ProcessorRequest.callback_missing, callback_missing),
    )
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    if cursor:
        created_at, last_id = decode_cursor(cursor)
        statement = statement.where(
            or_(
                ProcessorRequest.created_at < created_at,
                and_(ProcessorRequest.created_at == created_at, ProcessorRequest.id < last_id),
            )
        )
    rows = session.scalars(statement.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1]) if more else None)


def encode_cursor(request: ProcessorRequest) -> str:
    raw = json.dumps([request.created_at.isoformat(), request.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """The position a cursor names; ``ValueError`` for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, last_id = json.loads(raw)
        return dt.datetime.fromisoformat(created_at), str(last_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("not a valid cursor") from error


def record_event(session: Session, request_id: str, *, kind: str, actor: str, note: str | None = None) -> None:
    """Record something ops did with a request that does not move it (an archive downloaded)."""
    session.add(RequestEvent(request_id=request_id, kind=kind, actor=actor, note=note))
    session.flush()
