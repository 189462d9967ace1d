"""How a request looks to ops: the JSON the admin API answers and the CLI prints.

The signature key never appears here, nor the personal data value (only that a
keyed hash of it is held).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from storage.models import Callback, ProcessorRequest, RequestEvent, Transition


def iso_time(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def request_summary(request: ProcessorRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "intentId": request.intent_id,
        "provider": request.provider,
        "kind": request.kind,
        "field": request.field,
        "state": request.state,
        "stateReason": request.state_reason,
        "subjectRef": request.subject_ref,
        "caseId": request.case_id,
        "reason": request.reason,
        "result": request.result,
        "providerState": request.provider_state,
        "callbackMissing": request.callback_missing,
        "actionNeeded": request.action_needed,
        "providerCreatedAt": iso_time(request.provider_created_at),
        "providerCheckedAt": iso_time(request.provider_checked_at),
        "blacklist": request.blacklist,
        "hasValueHash": request.value_hash is not None,
        "createdAt": iso_time(request.created_at),
        "updatedAt": iso_time(request.updated_at),
        "callbackReceivedAt": iso_time(request.callback_received_at),
        "archivingAt": iso_time(request.archiving_at),
        "completedAt": iso_time(request.completed_at),
        "failedAt": iso_time(request.failed_at),
        "secretsErasedAt": iso_time(request.secrets_erased_at),
        "archive": _archive(request),
    }


def request_detail(request: ProcessorRequest, callbacks: Sequence[Callback]) -> dict[str, Any]:
    """The whole record: summary, state history, every callback, and the chain of custody."""
    return {
        **request_summary(request),
        "transitions": [_transition(t) for t in request.transitions],
        "events": [_event(e) for e in request.events],
        "callbacks": [_callback(c) for c in callbacks],
        "authorisingCallbackId": request.authorising_callback_id,
    }


def _archive(request: ProcessorRequest) -> dict[str, Any] | None:
    if request.archive_uri is None:
        return None
    return {
        "uri": request.archive_uri,
        "bytes": request.archive_bytes,
        "sha256": request.archive_sha256,
        "versionId": request.archive_version_id,
        "storedAt": iso_time(request.archive_stored_at),
        "deletedAt": iso_time(request.archive_deleted_at),
        "deletionReceipt": deletion_receipt(request),
    }


def deletion_receipt(request: ProcessorRequest) -> dict[str, Any] | None:
    """What was deleted, when, by whom, under which policy; None while the archive is kept.

    ``bytes`` and ``sha256`` are those measured while the archive streamed into the store
    (deleting does not read it back); ``versions`` is what the store listed and removed.
    """
    if request.archive_deleted_at is None:
        return None
    versions = json.loads(request.archive_deleted_versions or "[]")
    return {
        "deletedAt": iso_time(request.archive_deleted_at),
        "deletedBy": request.archive_deleted_by,
        "policy": request.archive_deletion_policy,
        "uri": request.archive_uri,
        "versionIds": [version["versionId"] for version in versions if version.get("versionId")],
        "versions": versions,
        "bytes": request.archive_bytes,
        "sha256": request.archive_sha256,
        "measuredAt": iso_time(request.archive_stored_at),
    }


def _transition(transition: Transition) -> dict[str, Any]:
    return {
        "from": transition.from_state,
        "to": transition.to_state,
        "at": iso_time(transition.at),
        "reason": transition.reason,
        "callbackId": transition.callback_id,
        "actor": transition.actor,
    }


def _event(event: RequestEvent) -> dict[str, Any]:
    return {"at": iso_time(event.at), "kind": event.kind, "actor": event.actor, "note": event.note}


def _callback(callback: Callback) -> dict[str, Any]:
    return {
        "id": callback.id,
        "receivedAt": iso_time(callback.received_at),
        "verdict": callback.verdict,
        "reason": callback.reason,
        "status": callback.status_code,
        "requestKind": callback.request_kind,
        "jwt": {"verdict": callback.jwt_verdict, "reason": callback.jwt_reason, "jti": callback.jwt_id},
        "hmac": {
            "verdict": callback.hmac_verdict,
            "reason": callback.hmac_reason,
            "keyEncoding": callback.hmac_key_encoding,
            "timestamp": callback.hmac_timestamp,
        },
        "bodySha256": callback.body_sha256,
        "bodyBytes": callback.body_bytes,
        "hasArchiveUrl": callback.has_archive_url,
        "remoteAddr": callback.remote_addr,
    }
