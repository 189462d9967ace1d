"""The request registry: store, find and list requests and the callbacks that reached them.

Every function takes the caller's session, so a caller composes several of them
into one transaction (the callback endpoint records, moves and enqueues at once).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from storage import lifecycle
from storage.errors import StorageError
from storage.models import Callback, ProcessorRequest

MESSAGEBIRD = "messagebird"
VOODOOSMS = "voodoosms"
PROVIDERS = (MESSAGEBIRD, VOODOOSMS)

GET_KINDS = frozenset({"KIND_PERSONAL_GET", "KIND_USER_GET"})
DELETE_KINDS = frozenset({"KIND_PERSONAL_DELETE", "KIND_USER_DELETE"})
PERSONAL_KINDS = frozenset({"KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE"})
MESSAGEBIRD_KINDS = GET_KINDS | DELETE_KINDS
VOODOOSMS_FORGET = "FORGET"


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


def register(session: Session, new: NewRequest) -> ProcessorRequest:
    """Store a new request in state ``sent``; ``conflict`` if its id is already known."""
    if session.get(ProcessorRequest, new.id) is not None:
        raise StorageError("conflict", "a request with this id is already registered")
    request = ProcessorRequest(
        id=new.id,
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
    lifecycle.start(request)
    session.add(request)
    session.flush()
    return request


def find(session: Session, request_id: str, *, for_update: bool = False) -> ProcessorRequest | None:
    statement = select(ProcessorRequest).where(ProcessorRequest.id == request_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def get(session: Session, request_id: str) -> ProcessorRequest:
    request = session.scalars(
        select(ProcessorRequest).where(ProcessorRequest.id == request_id).options(selectinload(ProcessorRequest.transitions))
    ).first()
    if request is None:
        raise StorageError("not_found", "no request with this id")
    return request


def awaiting_provider(session: Session, provider: str) -> Sequence[ProcessorRequest]:
    """The provider's requests still in state ``sent``: no callback or final status yet."""
    return session.scalars(
        select(ProcessorRequest).where(ProcessorRequest.provider == provider, ProcessorRequest.state == lifecycle.SENT).order_by(ProcessorRequest.created_at)
    ).all()


def ids_with_value_hash(session: Session, value_hash: str, *, limit: int = 20) -> list[str]:
    """The ids of the newest requests about the same personal data value (a keyed hash)."""
    statement = select(ProcessorRequest.id).where(ProcessorRequest.value_hash == value_hash)
    return list(session.scalars(statement.order_by(ProcessorRequest.created_at.desc()).limit(limit)))


def callbacks_of(session: Session, request_id: str) -> Sequence[Callback]:
    return session.scalars(
        select(Callback).where(Callback.request_id == request_id).order_by(Callback.id)
    ).all()


def record_callback(session: Session, callback: Callback) -> Callback:
    session.add(callback)
    session.flush()
    return callback


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
    filters = ((ProcessorRequest.state, state), (ProcessorRequest.kind, kind), (ProcessorRequest.provider, provider),
               (ProcessorRequest.callback_missing, callback_missing))
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    if cursor:
        created_at, last_id = decode_cursor(cursor)
        statement = statement.where(
            or_(ProcessorRequest.created_at < created_at, and_(ProcessorRequest.created_at == created_at, ProcessorRequest.id < last_id))
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
