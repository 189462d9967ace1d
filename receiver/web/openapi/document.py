"""The OpenAPI 3.1 document of the service, built from the app itself.

Paths and path parameters come from the app's URL map; each rule is described by
the ``Operation`` its endpoint names (``operations``); request bodies, query
parameters and answers are the JSON Schemas pydantic generates from the models
that validate the requests (``receiver.usecases.documents``) and shape the answers
(``receiver.usecases.answers``), collected under ``components/schemas``. So an
endpoint, a field or a rule of validation appears in the document the moment it
exists in the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

from receiver.usecases.operators import PERMISSIONS
from receiver.web.openapi.operations import (
    BROWSER_PAGES,
    CONTENT_DIGEST,
    OPERATIONS,
    PUBLIC,
    RETRY_AFTER,
    Operation,
    Reply,
)

OPENAPI_VERSION = "3.1.0"
#: The contract's own version: raised when an answer or a document changes incompatibly.
API_VERSION = "1.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "operatorToken"
REQUEST_ID_HEADER = "X-Request-Id"
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_PATH_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")

_DESCRIPTION = """\
The admin API of the GDPR request receiver, and the endpoint MessageBird calls back.

**Authentication.** Every `/api` call and `/metrics` carries a named operator's token:
`Authorization: Bearer <token>` (made with `flask tokens create NAME --role ROLE`; `ADMIN_TOKEN` is the
operator `admin`). Each operation lists the roles that may call it: `viewer` reads, `operator` reads and
acts, `auditor` reads and exports evidence, `metrics` only scrapes `/metrics`. A missing, unknown or
revoked token is 401; a role that may not is 403.

**Errors** use MessageBird's shape, `{"errors": [{"code", "description", "parameter"?}]}`: `parameter` names
the input to blame, and the description never repeats a secret or a personal data value.

**Pages.** Lists answer `nextCursor`; pass it back as `cursor` for the next page (null on the last).

**Request ids.** Every answer carries `X-Request-Id`, the id of its log events (a caller's own
`X-Request-Id` is kept when it is 1 to 64 of `A-Z a-z 0-9 . _ -`)."""

_TAGS = (
    ("cases", "Data subject requests and their deadlines"),
    ("answers", "The answer delivered to the data subject: the package, its links, the proof of delivery"),
    ("requests", "Processor requests: send, register, follow, retry, download"),
    ("callbacks", "MessageBird's signed callbacks, and the refused ones"),
    ("service", "Probes, metrics and this document"),
)


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document for ``app``, built once and kept with it; not to be changed.

    The document follows from the app's routes alone (each view's declared operation), so an
    app with the same routes as one built before in this process gets that app's document: a
    process that builds many apps (a test run) builds it once, not once per app.
    """
    cached = app.extensions.get("openapi")
    if cached is None:
        routes = _routes_of(app)
        cached = _BUILT.get(routes)
        if cached is None:
            cached = _BUILT[routes] = build_document(app)
        app.extensions["openapi"] = cached
    return cached


#: The documents built in this process, by the routes they describe (``_routes_of``).
_BUILT: dict[tuple[tuple[str, ...], ...], dict[str, Any]] = {}


def _routes_of(app: Flask) -> tuple[tuple[str, ...], ...]:
    """What the document follows from: each rule, its endpoint and methods, and the view function it runs."""
    return tuple(
        (rule.rule, rule.endpoint, *sorted(rule.methods or ()), _view_name(app.view_functions.get(rule.endpoint)))
        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
    )


def _view_name(view: object) -> str:
    function = getattr(view, "__func__", view)  # a bound method (a blueprint's static files) by its function
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"


def _documented_methods(rule: Rule) -> list[str]:
    """The rule's methods but HEAD and OPTIONS, in order (Flask gives every rule its set of methods)."""
    return sorted((rule.methods or set()) - _IGNORED_METHODS)


def build_document(app: Flask) -> dict[str, Any]:
    documented = documented_rules(app)
    schemas, refs = _schemas(_models(operation for _, operation in documented))
    paths: dict[str, dict[str, Any]] = {}
    for rule, operation in documented:
        for method in _documented_methods(rule):
            paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(rule, operation, refs)
    _link_created_records(documented, paths)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "GDPR request receiver", "version": API_VERSION, "description": _DESCRIPTION},
        "tags": [{"name": name, "description": text} for name, text in _TAGS],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": _security_schemes(), "headers": _headers()},
    }


def documented_rules(app: Flask) -> list[tuple[Rule, Operation]]:
    """Every rule of ``app`` that ``OPERATIONS`` describes, by path."""
    rules = sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)
    return [(rule, OPERATIONS[rule.endpoint]) for rule in rules if rule.endpoint in OPERATIONS]


def undocumented_endpoints(app: Flask) -> set[str]:
    """Endpoints of the API that ``OPERATIONS`` does not describe (pages for browsers are not the API)."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in OPERATIONS and not BROWSER_PAGES.fullmatch(rule.rule)
    }


def openapi_path(rule: Rule) -> str:
    """``/api/requests/<request_id>`` as ``/api/requests/{requestId}``."""
    return _PATH_ARGUMENT.sub(lambda match: "{" + to_camel(match[1]) + "}", rule.rule)


def operation_id(endpoint: str) -> str:
    """``admin.show_request`` as ``adminShowRequest``."""
    return to_camel(endpoint.replace(".", "_"))


def roles_with(permission: str) -> list[str]:
    return [role for role, allowed in PERMISSIONS.items() if permission in allowed]


# -- one operation -------------------------------------------------------------------------


def _operation(rule: Rule, operation: Operation, refs: Mapping[type[BaseModel], dict[str, str]]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": operation_id(rule.endpoint),
        "summary": operation.summary,
        "description": _with_access(operation),
        "tags": [operation.tag],
        "security": [] if operation.access == PUBLIC else [{SECURITY_SCHEME: roles_with(operation.access)}],
    }
    parameters = _path_parameters(rule) + _query_parameters(operation) + _header_parameters(operation)
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs[operation.body]}}}
    replies = {**_implied_replies(rule, operation), **operation.replies}
    described["responses"] = {str(status): _response(replies[status], refs) for status in sorted(replies)}
    return described


def _link_created_records(documented: list[tuple[Rule, Operation]], paths: dict[str, dict[str, Any]]) -> None:
    """The 201 answer of an operation that creates a record links every operation its ``id`` is a path parameter of."""
    takers: dict[str, list[str]] = {}
    for rule, _ in documented:
        for name in rule.arguments:
            takers.setdefault(to_camel(name), []).append(operation_id(rule.endpoint))
    for rule, operation in documented:
        if operation.creates is None:
            continue
        for method in _documented_methods(rule):
            paths[openapi_path(rule)][method.lower()]["responses"]["201"]["links"] = {
                taker: {"operationId": taker, "parameters": {operation.creates: "$response.body#/id"}}
                for taker in sorted(takers.get(operation.creates, ()))
            }


def _with_access(operation: Operation) -> str:
    if operation.access == PUBLIC:
        access = "No token needed."
    else:
        access = f"Needs the *{operation.access}* permission: roles {', '.join(roles_with(operation.access))}."
    return f"{operation.description}\n\n{access}".strip()


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    return [
        {"name": to_camel(name), "in": "path", "required": True, "schema": {"type": "string"}}
        for name in sorted(rule.arguments)
    ]


def _query_parameters(operation: Operation) -> list[dict[str, Any]]:
    if operation.query is None:
        return []
    properties = operation.query.model_json_schema(by_alias=True, ref_template=SCHEMA_REF)["properties"]
    return [_query_parameter(name, schema) for name, schema in properties.items()]


def _query_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter: absent rather than null, so the schema's null branch and null default go."""
    schema = {key: value for key, value in schema.items() if key != "title"}
    if "anyOf" in schema:
        (given,) = [branch for branch in schema.pop("anyOf") if branch != {"type": "null"}]
        schema = {**given, **schema}
    if schema.get("default", ...) is None:
        del schema["default"]
    description = schema.pop("description", None)
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    return {**parameter, "description": description} if description else parameter


def _header_parameters(operation: Operation) -> list[dict[str, Any]]:
    return [
        {
            "name": header.name,
            "in": "header",
            "required": False,
            "description": header.description,
            "schema": {"type": "string"},
        }
        for header in operation.headers
    ]


def _implied_replies(rule: Rule, operation: Operation) -> dict[int, Reply]:
    """The answers an operation gives by its shape: its inputs, its token, its record, its database."""
    replies: dict[int, Reply] = {}
    bad_input = [
        text
        for given, text in (
            (operation.body is not None, "the body is not a JSON object, or a field is missing or invalid"),
            (operation.query is not None, "a query parameter is not valid"),
            (bool(rule.arguments), "a path parameter holds characters that cannot be stored (NUL)"),
        )
        if given
    ]
    if bad_input:
        replies[400] = Reply("Bad input: " + "; ".join(bad_input) + " (`parameter` names it)")
    if operation.body is not None:
        replies[413] = Reply("Body over 1 MiB")
        replies[415] = Reply("Content-Type is not application/json")
    if rule.arguments and operation.finds:
        replies[404] = Reply("No record with this id")
    if operation.access != PUBLIC:
        replies[401] = Reply("No bearer token, or one that is unknown or revoked")
        replies[403] = Reply(f"The token's role may not do this (only {', '.join(roles_with(operation.access))})")
    if operation.storage:
        replies[503] = Reply("The database is unavailable: try again")
    return replies


def _response(reply: Reply, refs: Mapping[type[BaseModel], dict[str, str]]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if reply.models:
        schemas = [refs[model] for model in reply.models]
        content["application/json"] = {"schema": schemas[0] if len(schemas) == 1 else {"anyOf": schemas}}
    content.update(reply.content)
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in (REQUEST_ID_HEADER, *reply.headers)}
    response: dict[str, Any] = {"description": reply.description, "headers": headers}
    return {**response, "content": content} if content else response


# -- components ----------------------------------------------------------------------------


def _models(operations: Iterable[Operation]) -> list[type[BaseModel]]:
    """Every model a body or an answer names, once, in a stable order."""
    found: dict[type[BaseModel], None] = {}
    for operation in operations:
        if operation.body is not None:
            found[operation.body] = None
        for reply in operation.replies.values():
            found.update(dict.fromkeys(reply.models))
    return sorted(found, key=lambda model: model.__name__)


def _schemas(models: list[type[BaseModel]]) -> tuple[dict[str, Any], dict[type[BaseModel], dict[str, str]]]:
    """``components/schemas`` of ``models`` (and every model they use), and the ``$ref`` of each."""
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models], by_alias=True, ref_template=SCHEMA_REF
    )
    refs_by_model = {model: refs[(model, "validation")] for model in models}
    return dict(sorted(definitions.get("$defs", {}).items())), refs_by_model


def _security_schemes() -> dict[str, Any]:
    return {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "A named operator's token (`flask tokens create NAME --role ROLE`) or `ADMIN_TOKEN`. The "
            "names in an operation's requirement are the roles that may call it.",
        }
    }


def _headers() -> dict[str, Any]:
    return {
        REQUEST_ID_HEADER: {
            "description": "The id of this request's log events",
            "required": True,
            "schema": {"type": "string"},
        },
        RETRY_AFTER: {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
        CONTENT_DIGEST: {
            "description": "The SHA-256 of the body (RFC 9530), as recorded in the history",
            "schema": {"type": "string", "pattern": "^sha-256=:[A-Za-z0-9+/]+=*:$"},
        },
    }
