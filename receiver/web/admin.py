"""The admin API for ops: send, register and read requests.

Every route needs an operator's bearer token (``receiver.web.auth``): reads the
``read`` permission, actions ``act``, an archive download ``export``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, send_file

from receiver.usecases import archives, records, registration, sending
from receiver.usecases.answers import ArchiveLink, ErrorDetail, OutcomeUnknown
from receiver.usecases.documents import RequestQuery
from receiver.usecases.operators import EXPORT
from receiver.web.auth import current_actor, protect, requires
from receiver.web.current import services
from receiver.web.errors import SERVICE_UNAVAILABLE
from receiver.web.inputs import json_body, query, refuse_unstorable_path

blueprint = Blueprint("admin", __name__, url_prefix="/api")

protect(blueprint)
blueprint.before_request(refuse_unstorable_path)


@blueprint.post("/requests/import")
def import_request() -> tuple[Response, int]:
    created = registration.import_messagebird_request(services(), json_body(), actor=current_actor())
    return jsonify(created.as_json()), 201


@blueprint.post("/requests")
def create_request() -> tuple[Response, int]:
    """Send a MessageBird Personal Data request and register what MessageBird answered."""
    return sent_answer(sending.send_messagebird_request(services(), json_body(), actor=current_actor()))


@blueprint.post("/forget")
def forget_number() -> tuple[Response, int]:
    """Send a VoodooSMS forget request; the worker polls its status."""
    return sent_answer(sending.forget_number(services(), json_body(), actor=current_actor()))


def sent_answer(sent: sending.Sent) -> tuple[Response, int]:
    """201 with the request; 202 when it was sent but its answer is not recorded yet; 504 (502) when the
    provider's answer never came (or was unreadable): both say the intent is kept and will be resolved."""
    if sent.outcome == sending.RECORDING_PENDING:
        return jsonify(sent.pending_answer().as_json()), 202
    if sent.outcome == sending.OUTCOME_UNKNOWN:
        status = 504 if getattr(sent.problem, "reason", None) == "timeout" else 502
        problem = ErrorDetail.model_construct(code=SERVICE_UNAVAILABLE, description=sent.explanation() or "")
        return jsonify(OutcomeUnknown.model_construct(errors=[problem], request=sent.answer()).as_json()), status
    return jsonify(sent.answer().as_json()), 201


@blueprint.get("/requests")
def list_requests() -> Response:
    asked = query(RequestQuery)
    page = records.list_requests(
        services(),
        state=asked.state,
        kind=asked.kind,
        provider=asked.provider,
        limit=asked.limit,
        cursor=asked.cursor,
        callback_missing=asked.callback_missing,
    )
    return jsonify(page.as_json())


@blueprint.get("/requests/<request_id>")
def show_request(request_id: str) -> Response:
    return jsonify(records.show_request(services(), request_id).as_json())


@blueprint.post("/requests/<request_id>/retry")
def retry_request(request_id: str) -> tuple[Response, int]:
    retried = archives.retry_archive(services(), request_id, actor=current_actor())
    return jsonify(retried.as_json()), 202


@blueprint.get("/requests/<request_id>/archive")
@requires(EXPORT)
def download_archive(request_id: str) -> Response:
    """A short-lived presigned URL for an S3 archive, or the file itself from the file store (audited)."""
    access = archives.archive_access(services(), request_id, actor=current_actor())
    if access.file is None:  # S3: a presigned URL
        return jsonify(ArchiveLink.model_construct(url=access.url or "", expires_in=access.expires_in).as_json())
    return send_file(access.file, mimetype="application/zip", as_attachment=True, download_name=f"{request_id}.zip")
