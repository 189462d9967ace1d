"""How a request looks to ops: the list and the record the admin API answers, the CLI prints and the console shows.

``list_requests`` and ``show_request`` are the reads of ``GET /api/requests`` and
``GET /api/requests/<id>`` (and ``flask requests list|show``); ``request_record`` and
``request_detail`` turn a stored request into its answer (``receiver.usecases.answers``).
The signature key never appears here, nor the personal data value (only that a
keyed hash of it is held).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from receiver.services import Services
from receiver.usecases.answers import (
    AnyKind,
    ArchiveRecord,
    CallbackRecord,
    DeletedVersion,
    DeletionReceipt,
    HmacVerdict,
    JwtVerdict,
    Provider,
    RequestDetail,
    RequestEventRecord,
    RequestPage,
    RequestRecord,
    RequestState,
    TransitionRecord,
    iso_time,
)
from receiver.usecases.errors import UseCaseError
from storage import registry
from storage.models import Callback, ProcessorRequest, RequestEvent, Transition


def list_requests(
    services: Services,
    *,
    limit: int,
    state: str | None = None,
    kind: str | None = None,
    provider: str | None = None,
    callback_missing: bool | None = None,
    cursor: str | None = None,
) -> RequestPage:
    """Requests newest first, filtered; ``invalid`` (``cursor``) for a cursor this service did not give."""
    with services.database.transaction() as session:
        try:
            page = registry.list_page(
                session,
                state=state,
                kind=kind,
                provider=provider,
                limit=limit,
                cursor=cursor,
                callback_missing=callback_missing,
            )
        except ValueError:
            raise UseCaseError("invalid", "cursor is not valid", reason="invalid_params", parameter="cursor") from None
        return RequestPage.model_construct(
            requests=[request_record(r) for r in page.requests], next_cursor=page.next_cursor
        )


def show_request(services: Services, request_id: str) -> RequestDetail:
    """The request named by its id or its intent's id, whole; ``StorageError`` (``not_found``) when none is."""
    with services.database.transaction() as session:
        found = registry.get(session, request_id)
        return request_detail(found, registry.callbacks_of(session, found.id))


def request_record(request: ProcessorRequest) -> RequestRecord:
    return RequestRecord.model_construct(
        id=request.id,
        intent_id=request.intent_id,
        provider=cast(Provider, request.provider),
        kind=cast(AnyKind, request.kind),
        field=request.field,
        state=cast(RequestState, request.state),
        state_reason=request.state_reason,
        subject_ref=request.subject_ref,
        case_id=request.case_id,
        reason=request.reason,
        result=request.result,
        provider_state=request.provider_state,
        callback_missing=request.callback_missing,
        action_needed=request.action_needed,
        provider_created_at=iso_time(request.provider_created_at),
        provider_checked_at=iso_time(request.provider_checked_at),
        blacklist=request.blacklist,
        has_value_hash=request.value_hash is not None,
        created_at=iso_time(request.created_at),
        updated_at=iso_time(request.updated_at),
        callback_received_at=iso_time(request.callback_received_at),
        archiving_at=iso_time(request.archiving_at),
        completed_at=iso_time(request.completed_at),
        failed_at=iso_time(request.failed_at),
        secrets_erased_at=iso_time(request.secrets_erased_at),
        archive=_archive(request),
    )


def record_fields(request: ProcessorRequest) -> dict[str, Any]:
    """``request_record``'s fields by name, for the answers that extend it (``RequestDetail``, ``SentRequest``...)."""
    return dict(request_record(request))


def request_detail(request: ProcessorRequest, callbacks: Sequence[Callback]) -> RequestDetail:
    """The whole record: summary, state history, every callback, and the chain of custody."""
    return RequestDetail.model_construct(
        **record_fields(request),
        transitions=[_transition(t) for t in request.transitions],
        events=[_event(e) for e in request.events],
        callbacks=[_callback(c) for c in callbacks],
        authorising_callback_id=request.authorising_callback_id,
    )


def _archive(request: ProcessorRequest) -> ArchiveRecord | None:
    if request.archive_uri is None:
        return None
    return ArchiveRecord.model_construct(
        uri=request.archive_uri,
        size=request.archive_bytes,
        sha256=request.archive_sha256,
        version_id=request.archive_version_id,
        stored_at=iso_time(request.archive_stored_at),
        deleted_at=iso_time(request.archive_deleted_at),
        deletion_receipt=deletion_receipt(request),
    )


def deletion_receipt(request: ProcessorRequest) -> DeletionReceipt | None:
    """What was deleted, when, by whom, under which policy; None while the archive is kept.

    ``bytes`` and ``sha256`` are those measured while the archive streamed into the store
    (deleting does not read it back); ``versions`` is what the store listed and removed.
    """
    if request.archive_deleted_at is None:
        return None
    versions = json.loads(request.archive_deleted_versions or "[]")
    return DeletionReceipt.model_construct(
        deleted_at=iso_time(request.archive_deleted_at),
        deleted_by=request.archive_deleted_by,
        policy=request.archive_deletion_policy,
        uri=request.archive_uri or "",
        version_ids=[version["versionId"] for version in versions if version.get("versionId")],
        versions=[_deleted_version(version) for version in versions],
        size=request.archive_bytes,
        sha256=request.archive_sha256,
        measured_at=iso_time(request.archive_stored_at),
    )


def _deleted_version(version: dict[str, Any]) -> DeletedVersion:
    """One version as the retention run stored it (``storage.retention``: the same names as the answer)."""
    return DeletedVersion.model_construct(
        version_id=version["versionId"],
        size=version["bytes"],
        delete_marker=version["deleteMarker"],
        partial=version["partial"],
    )


def _transition(transition: Transition) -> TransitionRecord:
    return TransitionRecord.model_construct(
        from_state=cast(RequestState | None, transition.from_state),
        to_state=cast(RequestState, transition.to_state),
        at=iso_time(transition.at),
        reason=transition.reason,
        callback_id=transition.callback_id,
        actor=transition.actor,
    )


def _event(event: RequestEvent) -> RequestEventRecord:
    return RequestEventRecord.model_construct(
        at=iso_time(event.at), kind=event.kind, actor=event.actor, note=event.note
    )


def _callback(callback: Callback) -> CallbackRecord:
    return CallbackRecord.model_construct(
        id=callback.id,
        received_at=iso_time(callback.received_at),
        verdict=callback.verdict,
        reason=callback.reason,
        status=callback.status_code,
        request_kind=callback.request_kind,
        jwt=JwtVerdict.model_construct(verdict=callback.jwt_verdict, reason=callback.jwt_reason, jti=callback.jwt_id),
        hmac=HmacVerdict.model_construct(
            verdict=callback.hmac_verdict,
            reason=callback.hmac_reason,
            key_encoding=callback.hmac_key_encoding,
            timestamp=callback.hmac_timestamp,
        ),
        body_sha256=callback.body_sha256,
        body_bytes=callback.body_bytes,
        has_archive_url=callback.has_archive_url,
        remote_addr=callback.remote_addr,
    )
