"""Who is calling and what their role lets them do: bearer tokens of named operators.

``protect(blueprint)`` puts every view of a blueprint behind a token: a GET needs
the ``read`` permission, any other method ``act``, unless the view says otherwise
with ``@requires(...)`` (under its route decorator). No token, or one that is
unknown or revoked: 401. A token whose role lacks the permission: 403. Both in
MessageBird's error shape, and neither says which tokens exist. The operator's
name is then ``current_actor()``, which every action hands to its use case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog
from flask import Blueprint, current_app, g, request

from receiver.usecases import operators
from receiver.usecases.operators import ACT, READ, Operator
from receiver.web.current import services
from receiver.web.errors import REQUEST_NOT_ALLOWED, HttpProblem, unauthorized

View = TypeVar("View", bound=Callable[..., object])
_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authorise(permission: str) -> Operator:
    """The calling operator, if their role has ``permission``; else a 401 or 403 ``HttpProblem``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("no_bearer_token")
    operator = operators.authenticate(services(), token.strip())
    if operator is None:
        raise unauthorized("unknown_token")
    if not operator.may(permission):
        raise HttpProblem(
            403,
            REQUEST_NOT_ALLOWED,
            f"Request not allowed: the {operator.role} role may not do this",
            reason=f"role_lacks_{permission}",
        )
    g.operator = operator
    structlog.contextvars.bind_contextvars(actor=operator.name)
    return operator


def current_actor() -> str:
    """The name of the operator ``authorise`` let in for this request."""
    return g.operator.name


def requires(permission: str) -> Callable[[View], View]:
    """Mark a view as needing ``permission`` instead of its method's (``read`` for GET, ``act`` otherwise)."""

    def mark(view: View) -> View:
        view.required_permission = permission  # type: ignore[attr-defined]  # a mark on the view, read with getattr
        return view

    return mark


def protect(blueprint: Blueprint) -> None:
    """Every view of ``blueprint`` needs a token whose role has the view's permission."""
    blueprint.before_request(authorise_request)


def authorise_request() -> None:
    """``authorise`` the current request for its view's permission."""
    view = current_app.view_functions.get(request.endpoint or "")
    default = READ if request.method in _READING_METHODS else ACT
    authorise(getattr(view, "required_permission", default))
