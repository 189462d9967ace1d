"""Reading what an API call sends: its JSON body and its query parameters, refused with a 400 or 415 that says why."""

from __future__ import annotations

import json
from collections.abc import Container
from typing import TypeVar

from flask import request

from receiver.usecases import documents
from receiver.web.errors import HttpProblem, invalid

Parsed = TypeVar("Parsed", bound=documents.Query)


def refuse_unstorable_path() -> None:
    """400 for a path parameter holding NUL, which PostgreSQL cannot even compare (a ``before_request`` hook)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise invalid(f"{name} holds characters that cannot be stored", parameter=name)


def json_body() -> object:
    """The parsed JSON body; 415 unless ``application/json``, 400 when it does not parse."""
    if request.mimetype != "application/json":
        raise HttpProblem(415, 10, "Content-Type must be application/json", reason="unsupported_media_type")
    try:
        return json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise invalid("Body is not valid JSON", reason="malformed_json") from None


def optional_arg(name: str, allowed: Container[str]) -> str | None:
    """Query parameter ``name``, one of ``allowed``, or None when absent or empty."""
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise invalid(f"{name} is not one of the known values", parameter=name)
    return value


def optional_text(name: str) -> str | None:
    return request.args.get(name) or None


def optional_flag(name: str) -> bool | None:
    value = optional_arg(name, ("true", "false"))
    return None if value is None else value == "true"


def query(model: type[Parsed]) -> Parsed:
    """The query parameters as ``model`` (a repeated one counts by its first value); 400 naming the first one wrong."""
    return documents.parse(model, request.args.to_dict())
