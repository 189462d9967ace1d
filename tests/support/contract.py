"""Every answer a test sees is held to the API contract (``GET /api/openapi.json``).

``ContractClient`` is the test client of the ``app`` fixture: each answer to an
operation the document describes must have a status that operation lists, a
content type it lists for that status, and a JSON body that validates against
its schema (formats checked too). Anything else fails the test that saw it,
naming the operation and the answer. Paths the document does not describe (the
console's pages, routes a test adds) are not checked here:
``tests/receiver/web/openapi`` fails for an API endpoint the document misses.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.test import TestResponse

from receiver.web.openapi.document import openapi_document, openapi_path


class ContractClient(FlaskClient):
    """A Flask test client that checks each answer against the app's OpenAPI document."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        response = super().open(*args, **kwargs)
        problems = contract_problems(self.application, response)
        assert not problems, "answer outside the API contract: " + "; ".join(problems)
        return response


def described_operation(app: Flask, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The document's operation for ``method path`` (with its name), or None when it describes none."""
    try:
        rule, _ = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except (HTTPException, RequestRedirect):
        return None
    template = openapi_path(rule)
    operation = openapi_document(app)["paths"].get(template, {}).get(method.lower())
    return (f"{method} {template}", operation) if operation is not None else None


def contract_problems(app: Flask, response: TestResponse) -> list[str]:
    """What is wrong with ``response`` by the document (nothing when it does not describe the call)."""
    described = described_operation(app, response.request.method, response.request.path)
    if described is None:
        return []
    name, operation = described
    answer = operation["responses"].get(str(response.status_code))
    if answer is None:
        return [
            f"{name} answered {response.status_code}, which it does not list: {response.get_data(as_text=True)[:300]}"
        ]
    content = answer.get("content", {})
    if response.mimetype not in content:
        return [f"{name} answered {response.status_code} as {response.mimetype}, not as {sorted(content) or 'nothing'}"]
    schema = content[response.mimetype].get("schema")
    if schema is None or response.mimetype != "application/json":
        return []
    return [f"{name} {response.status_code}: {problem}" for problem in schema_problems(app, schema, response)]


def schema_problems(app: Flask, schema: dict[str, Any], response: TestResponse) -> list[str]:
    components = openapi_document(app)["components"]
    validator = Draft202012Validator(
        {**schema, "components": components}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    body = json.loads(response.get_data())
    return [
        f"{'/'.join(map(str, error.absolute_path)) or 'body'}: {error.message[:300]}"
        for error in validator.iter_errors(body)
    ]
