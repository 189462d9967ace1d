"""The API contract: ``GET /api/openapi.json``, the OpenAPI 3.1 document of the service.

Open to anyone, like the README: it names endpoints and shapes, never a secret, and
outside tools (client generators, schemathesis) read it before they have a token.
``document`` builds it from the app's URL map, ``operations`` says what each endpoint
is, and the schemas come from the pydantic models of ``receiver.usecases``.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from receiver.web.openapi.document import openapi_document

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/api/openapi.json")
def document() -> Response:
    return jsonify(openapi_document(current_app))
