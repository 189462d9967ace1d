"""Who is signed in to the console, and what their role lets them do.

The browser holds two cookies, both ``HttpOnly``, ``SameSite=Strict``, ``Secure``
when ``PUBLIC_URL`` is https, and sent only to ``/ops``:

- ``ops_session``: the session id (``receiver.usecases.console_sessions``); the
  database holds only its hash, the operator's name and role, and the expiry;
- ``ops_state``: Flask's signed cookie, holding the CSRF secret and the messages
  shown after a redirect; its key is derived from ``SECRET_KEY``, never the key itself.

While a sign-in through the identity provider is under way, a third cookie,
``ops_sign_in``, holds what its answer must match, sealed (``SECRET_KEY``): the
browser comes back from the provider by a cross-site redirect, which a
``SameSite=Strict`` cookie does not survive, so this one is ``Lax``, sent only to
``/ops/sign-in``, lives ten minutes and is deleted by the answer.

Every view needs a signed-in operator whose role may ``read``, unless marked
``@public``; ``@permitted(ACT)`` (or ``EXPORT``) asks for more. A role that may not
is answered with the 403 page, and the pages offer it nothing it may not do.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import structlog
from flask import Flask, Request, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.wrappers import Response

from receiver.usecases import console_sessions
from receiver.usecases.operators import READ, Operator
from receiver.web.current import services
from settings import Settings

SESSION_COOKIE = "ops_session"
STATE_COOKIE = "ops_state"
COOKIE_PATH = "/ops"
SIGN_IN_COOKIE = "ops_sign_in"
SIGN_IN_COOKIE_PATH = "/ops/sign-in"
View = TypeVar("View", bound=Callable[..., object])


class NotSignedIn(Exception):
    """No valid session: the console answers with the sign-in page."""


class NotPermitted(Exception):
    """The signed-in operator's role may not do this: the 403 page."""

    def __init__(self, permission: str, *, role: str) -> None:
        super().__init__(permission)
        self.permission = permission
        self.role = role


def derived_key(secret: str, purpose: str) -> str:
    """A key for ``purpose`` derived from one ``SECRET_KEY`` value (HMAC-SHA256), so the key itself is never used."""
    return hmac.new(secret.encode(), f"gdpr-receiver console {purpose}".encode(), hashlib.sha256).hexdigest()


def secure_cookies(settings: Settings) -> bool:
    return urlsplit(settings.public_url).scheme == "https"


def configure_cookies(app: Flask) -> None:
    """Flask's session (CSRF secret, flashed messages) and CSRF keys, derived from ``SECRET_KEY``; newest first."""
    settings: Settings = app.extensions["services"].settings
    keys = [derived_key(secret, "state") for secret in settings.secret_key]
    app.config.update(
        SECRET_KEY=keys[0],
        SECRET_KEY_FALLBACKS=keys[1:],
        SESSION_COOKIE_NAME=STATE_COOKIE,
        SESSION_COOKIE_PATH=COOKIE_PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure_cookies(settings),
        WTF_CSRF_SECRET_KEY=derived_key(settings.secret_key[0], "csrf"),
        WTF_CSRF_CHECK_DEFAULT=False,  # only the console's own POSTs are checked (``blueprint.check_csrf``)
        WTF_CSRF_TIME_LIMIT=settings.console_session_minutes * 60,
    )


class ConsoleSession(SecureCookieSessionInterface):
    """Flask's signed-cookie session (``ops_state``), opened only for the console's paths: its cookie is
    sent only to ``/ops``, so anywhere else there is nothing to read, and nothing is ever set. Elsewhere
    the session is Flask's null session (reading it finds it empty, writing to it fails)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not _under_console(request.path):
            return None  # Flask then uses its null session, which it never saves
        return super().open_session(app, request)


def _under_console(path: str) -> bool:
    return path == COOKIE_PATH or path.startswith(COOKIE_PATH + "/")


def set_session_cookie(response: Response, signed_in: console_sessions.SignedIn) -> None:
    settings = services().settings
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.session_id,
        max_age=settings.console_session_minutes * 60,
        path=COOKIE_PATH,
        secure=secure_cookies(settings),
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, secure=secure_cookies(services().settings), httponly=True, samesite="Strict"
    )


def set_sign_in_cookie(response: Response, sealed: str, max_age: int) -> None:
    settings = services().settings
    response.set_cookie(
        SIGN_IN_COOKIE,
        sealed,
        max_age=max_age,
        path=SIGN_IN_COOKIE_PATH,
        secure=secure_cookies(settings),
        httponly=True,
        samesite="Lax",
    )


def clear_sign_in_cookie(response: Response) -> None:
    response.delete_cookie(
        SIGN_IN_COOKIE,
        path=SIGN_IN_COOKIE_PATH,
        secure=secure_cookies(services().settings),
        httponly=True,
        samesite="Lax",
    )


def sign_in_cookie() -> str:
    return request.cookies.get(SIGN_IN_COOKIE, "")


def session_id() -> str:
    return request.cookies.get(SESSION_COOKIE, "")


def public(view: View) -> View:
    """Mark a view as open without a session (the sign-in page)."""
    view.console_public = True  # type: ignore[attr-defined]  # a mark on the view function, read with getattr
    return view


def permitted(permission: str) -> Callable[[View], View]:
    """Mark a view as needing ``permission`` (every console view needs ``read`` at least)."""

    def mark(view: View) -> View:
        view.console_permission = permission  # type: ignore[attr-defined]  # a mark read with getattr
        return view

    return mark


def authorise_view() -> None:
    """Before each console view: the signed-in operator, with the permission the view needs."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "console_public", False) or request.endpoint == "console.static":
        return
    operator = console_sessions.operator_of(services(), session_id())
    if operator is None:
        raise NotSignedIn()
    g.console_operator = operator
    structlog.contextvars.bind_contextvars(actor=operator.name)
    for permission in (READ, getattr(view, "console_permission", READ)):
        if not operator.may(permission):
            raise NotPermitted(permission, role=operator.role)


def signed_in() -> Operator | None:
    return g.get("console_operator")


def actor() -> str:
    """The signed-in operator's name: the actor every action hands to its use case."""
    return g.console_operator.name


def may(permission: str) -> bool:
    """Whether the signed-in operator's role has ``permission`` (what a page offers)."""
    operator = signed_in()
    return operator is not None and operator.may(permission)
