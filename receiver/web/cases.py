"""The cases API: data subject requests, their deadlines, and the processor requests sent for them.

    POST /api/cases                       open a case (201: its deadline explained)
    GET  /api/cases?state=&overdue=&dueBefore=&right=&jurisdiction=&limit=&cursor=
                                          most urgent first
    GET  /api/cases/<id>                  the case, its requests with their targets, its history
    POST /api/cases/<id>/extend|pause|resume|close
    POST /api/cases/<id>/requests|forget  send a processor request as part of the case

Reads need the ``read`` permission, everything else ``act`` (``receiver.web.auth``);
the operator's name is the actor of every change.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from receiver.usecases import cases
from receiver.usecases.answers import CaseDetail, CasePage, shaped
from receiver.usecases.case_views import case_summary
from receiver.usecases.documents import CaseQuery
from receiver.web.admin import sent_answer
from receiver.web.auth import current_actor, protect
from receiver.web.current import services
from receiver.web.inputs import json_body, query, refuse_unstorable_path
from storage import cases as case_registry

blueprint = Blueprint("cases", __name__, url_prefix="/api/cases")
protect(blueprint)
blueprint.before_request(refuse_unstorable_path)


@blueprint.post("")
def open_case() -> tuple[Response, int]:
    return _case(cases.open_case(services(), json_body(), actor=current_actor())), 201


@blueprint.get("")
def list_cases() -> Response:
    asked = query(CaseQuery)
    wanted = case_registry.CaseFilter(state=asked.state, overdue=asked.overdue, due_before=asked.due_before,
                                      right=asked.right, jurisdiction=asked.jurisdiction)
    found = cases.list_cases(services(), wanted, limit=asked.limit, cursor=asked.cursor)
    page = {"cases": [case_summary(view) for view in found.cases], "nextCursor": found.next_cursor}
    return jsonify(shaped(CasePage, page))


@blueprint.get("/<case_id>")
def show_case(case_id: str) -> Response:
    return _case(cases.show_case(services(), case_id))


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


def _case(detail: dict[str, object]) -> Response:
    return jsonify(shaped(CaseDetail, detail))
