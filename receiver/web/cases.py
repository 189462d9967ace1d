"""The cases API: data subject requests, their deadlines, and the processor requests sent for them.

    POST /api/cases                       open a case (201: its deadline explained)
    GET  /api/cases?state=&overdue=&dueBefore=&right=&jurisdiction=&limit=&cursor=
                                          most urgent first
    GET  /api/cases/<id>                  the case, its requests with their targets, its history
    POST /api/cases/<id>/extend|pause|resume|close
    POST /api/cases/<id>/requests|forget  send a processor request as part of the case
    GET  /api/cases/<id>/evidence         the evidence pack (a ZIP), its SHA-256 recorded in the history

Reads need the ``read`` permission, the evidence pack ``export`` (auditors and
operators), everything else ``act`` (``receiver.web.auth``); the operator's name
is the actor of every change and of every export.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify

from receiver.usecases import cases, evidence
from receiver.usecases.answers import CaseDetail
from receiver.usecases.documents import CaseQuery
from receiver.usecases.operators import EXPORT
from receiver.web.admin import sent_answer
from receiver.web.auth import current_actor, protect, requires
from receiver.web.current import services
from receiver.web.inputs import json_body, query, refuse_unstorable_path

blueprint = Blueprint("cases", __name__, url_prefix="/api/cases")
protect(blueprint)
blueprint.before_request(refuse_unstorable_path)


@blueprint.post("")
def open_case() -> tuple[Response, int]:
    return _case(cases.open_case(services(), json_body(), actor=current_actor())), 201


@blueprint.get("")
def list_cases() -> Response:
    asked = query(CaseQuery)
    wanted = cases.CaseFilter(
        state=asked.state,
        overdue=asked.overdue,
        due_before=asked.due_before,
        right=asked.right,
        jurisdiction=asked.jurisdiction,
    )
    return jsonify(cases.list_cases(services(), wanted, limit=asked.limit, cursor=asked.cursor).as_json())


@blueprint.get("/<case_id>")
def show_case(case_id: str) -> Response:
    return _case(cases.show_case(services(), case_id))


@blueprint.get("/<case_id>/evidence")
@requires(EXPORT)
def evidence_pack(case_id: str) -> Response:
    """The case's evidence pack; ``Content-Digest`` (RFC 9530) carries the SHA-256 its export recorded."""
    pack = evidence.export_pack(services(), case_id, actor=current_actor())
    response = Response(pack.data, mimetype="application/zip")
    response.headers.set("Content-Disposition", "attachment", filename=f"{case_id}-evidence.zip")
    digest = base64.b64encode(bytes.fromhex(pack.sha256)).decode("ascii")
    response.headers.update({"Content-Digest": f"sha-256=:{digest}:", "Cache-Control": "no-store"})
    return response


@blueprint.post("/<case_id>/extend")
def extend(case_id: str) -> Response:
    return _case(cases.extend_deadline(services(), case_id, json_body(), actor=current_actor()))


@blueprint.post("/<case_id>/pause")
def pause(case_id: str) -> Response:
    return _case(cases.pause(services(), case_id, json_body(), actor=current_actor()))


@blueprint.post("/<case_id>/resume")
def resume(case_id: str) -> Response:
    return _case(cases.resume(services(), case_id, json_body(), actor=current_actor()))


@blueprint.post("/<case_id>/close")
def close(case_id: str) -> Response:
    return _case(cases.close(services(), case_id, json_body(), actor=current_actor()))


@blueprint.post("/<case_id>/requests")
def send_request(case_id: str) -> tuple[Response, int]:
    """The document of ``POST /api/requests``, sent to MessageBird as part of the case."""
    return sent_answer(cases.send_for_case(services(), case_id, json_body(), actor=current_actor()))


@blueprint.post("/<case_id>/forget")
def forget_number(case_id: str) -> tuple[Response, int]:
    """The document of ``POST /api/forget``, sent to VoodooSMS as part of the case."""
    return sent_answer(cases.forget_for_case(services(), case_id, json_body(), actor=current_actor()))


def _case(detail: CaseDetail) -> Response:
    return jsonify(detail.as_json())
