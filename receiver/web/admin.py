"""The admin API for ops: send, register and read requests.

Every route needs an operator's bearer token (``receiver.web.auth``): reads the
``read`` permission, actions ``act``, an archive download ``export``.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request, send_file

from receiver.web.current import services
from receiver.usecases import archives, records, registration, sending
from receiver.usecases.operators import EXPORT
from receiver.web.auth import current_actor, protect, requires
from receiver.web.errors import SERVICE_UNAVAILABLE, HttpProblem, invalid
from receiver.web.inputs import refuse_unstorable_path
from storage import lifecycle, registry

blueprint = Blueprint("admin", __name__, url_prefix="/api")
MAX_PAGE = 200

protect(blueprint)
blueprint.before_request(refuse_unstorable_path)


@blueprint.post("/requests/import")
def import_request() -> tuple[Response, int]:
    created = registration.import_messagebird_request(services(), _json_body(), actor=current_actor())
    return jsonify(records.request_summary(created)), 201


@blueprint.post("/requests")
def create_request() -> tuple[Response, int]:
    """Send a MessageBird Personal Data request and register what MessageBird answered."""
    return sent_answer(sending.send_messagebird_request(services(), _json_body(), actor=current_actor()))


@blueprint.post("/forget")
def forget_number() -> tuple[Response, int]:
    """Send a VoodooSMS forget request; the worker polls its status."""
    return sent_answer(sending.forget_number(services(), _json_body(), actor=current_actor()))


def sent_answer(sent: sending.Sent) -> tuple[Response, int]:
    """201 with the request; 202 when it was sent but its answer is not recorded yet; 504 (502) when the
    provider's answer never came (or was unreadable): both say the intent is kept and will be resolved."""
    body = {**records.request_summary(sent.request), "earlierRequests": sent.earlier}
    if sent.outcome == sending.RECORDING_PENDING:
        return jsonify({**body, "status": sent.outcome, "providerRequestId": sent.provider_id,
                        "description": sent.explanation()}), 202
    if sent.outcome == sending.OUTCOME_UNKNOWN:
        status = 504 if getattr(sent.problem, "reason", None) == "timeout" else 502
        return jsonify(errors=[{"code": SERVICE_UNAVAILABLE, "description": sent.explanation()}], request=body), status
    return jsonify(body), 201


@blueprint.get("/requests")
def list_requests() -> Response:
    state = _optional_arg("state", lifecycle.STATES)
    kind = _optional_arg("kind", registry.MESSAGEBIRD_KINDS | {registry.VOODOOSMS_FORGET})
    provider = _optional_arg("provider", registry.PROVIDERS)
    missing = _optional_arg("callbackMissing", ("true", "false"))
    limit = _limit()
    try:
        with services().database.transaction() as session:
            page = registry.list_page(
                session, state=state, kind=kind, provider=provider, limit=limit, cursor=request.args.get("cursor"),
                callback_missing=None if missing is None else missing == "true",
            )
            body = {"requests": [records.request_summary(r) for r in page.requests], "nextCursor": page.next_cursor}
    except ValueError:
        raise invalid("cursor is not valid", parameter="cursor") from None
    return jsonify(body)


@blueprint.get("/requests/<request_id>")
def show_request(request_id: str) -> Response:
    with services().database.transaction() as session:
        found = registry.get(session, request_id)
        return jsonify(records.request_detail(found, registry.callbacks_of(session, found.id)))


@blueprint.post("/requests/<request_id>/retry")
def retry_request(request_id: str) -> tuple[Response, int]:
    retried = archives.retry_archive(services(), request_id, actor=current_actor())
    return jsonify(records.request_summary(retried)), 202


@blueprint.get("/requests/<request_id>/archive")
@requires(EXPORT)
def download_archive(request_id: str) -> Response:
    """A short-lived presigned URL for an S3 archive, or the file itself from the file store (audited)."""
    access = archives.archive_access(services(), request_id, actor=current_actor())
    if access.url is not None:
        return jsonify(url=access.url, expiresIn=access.expires_in)
    return send_file(access.file, mimetype="application/zip", as_attachment=True, download_name=f"{request_id}.zip")


def _json_body() -> object:
    if request.mimetype != "application/json":
        raise HttpProblem(415, 10, "Content-Type must be application/json", reason="unsupported_media_type")
    try:
        return json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise invalid("Body is not valid JSON", reason="malformed_json") from None


def _optional_arg(name: str, allowed: object) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:  # type: ignore[operator]
        raise invalid(f"{name} is not one of the known values", parameter=name)
    return value


def _limit() -> int:
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid(f"limit must be a whole number from 1 to {MAX_PAGE}", parameter="limit")
    return int(raw)
