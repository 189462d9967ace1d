"""The subject's answer, for ops: the package built from the case's archives, and the links that hand it out.

    GET    /api/cases/<id>/package                    the package, its files, links and downloads
    POST   /api/cases/<id>/package                    build it (again): 202, a worker job builds it
    POST   /api/cases/<id>/package/links              a link for the subject (201: its URL, shown once)
    DELETE /api/cases/<id>/package/links/<linkId>     revoke a link

Reads need ``read``, the rest ``act`` (``receiver.web.auth``); the operator is the actor of each.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from receiver.usecases import subject_links, subject_package
from receiver.usecases.answers import PackageRecord
from receiver.web.auth import current_actor, protect
from receiver.web.current import services
from receiver.web.inputs import json_body, refuse_unstorable_path

blueprint = Blueprint("packages", __name__, url_prefix="/api/cases")
protect(blueprint)
blueprint.before_request(refuse_unstorable_path)


@blueprint.get("/<case_id>/package")
def show_package(case_id: str) -> Response:
    return _package(subject_package.package_view(services(), case_id))


@blueprint.post("/<case_id>/package")
def build_package(case_id: str) -> tuple[Response, int]:
    return _package(subject_package.request_package(services(), case_id, actor=current_actor())), 202


@blueprint.post("/<case_id>/package/links")
def create_link(case_id: str) -> tuple[Response, int]:
    created = subject_links.create_link(services(), case_id, json_body(), actor=current_actor())
    response = jsonify(created.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@blueprint.delete("/<case_id>/package/links/<link_id>")
def revoke_link(case_id: str, link_id: str) -> Response:
    return _package(subject_links.revoke_link(services(), case_id, link_id, actor=current_actor()))


def _package(view: PackageRecord) -> Response:
    return jsonify(view.as_json())
