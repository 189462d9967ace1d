"""Legal holds on a case's archives: while one is placed, retention deletes none of them.

    GET    /api/cases/<id>/legal-hold   the hold (or null) and where each archive of the case stands
    POST   /api/cases/<id>/legal-hold   place one: {"reason": ...} (409 when held already)
    DELETE /api/cases/<id>/legal-hold   release it: optionally {"reason": ...} (409 when none is held)

Placing and releasing need the ``act`` permission (an operator) and are entries in the
case's history naming the operator (``receiver.usecases.legal_holds``).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from receiver.usecases import legal_holds
from receiver.web.auth import current_actor, protect
from receiver.web.current import services
from receiver.web.inputs import json_body, refuse_unstorable_path

blueprint = Blueprint("legal_holds", __name__, url_prefix="/api/cases")
protect(blueprint)
blueprint.before_request(refuse_unstorable_path)


@blueprint.get("/<case_id>/legal-hold")
def show(case_id: str) -> Response:
    return jsonify(legal_holds.show_legal_hold(services(), case_id).as_json())


@blueprint.post("/<case_id>/legal-hold")
def place(case_id: str) -> Response:
    held = legal_holds.place_legal_hold(services(), case_id, json_body(), actor=current_actor())
    return jsonify(held.as_json())


@blueprint.delete("/<case_id>/legal-hold")
def release(case_id: str) -> Response:
    """The body is optional: a release needs no reason, but may give one."""
    document = json_body() if request.content_length or request.mimetype == "application/json" else None
    released = legal_holds.release_legal_hold(services(), case_id, document, actor=current_actor())
    return jsonify(released.as_json())
