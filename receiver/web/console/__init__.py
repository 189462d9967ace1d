"""The ops console: server-rendered pages under ``/ops/`` for the people who run the service.

    /ops/sign-in, /ops/sign-out        the identity provider (OpenID Connect) or a named API token, then a session
    /ops/people                        who signed in through the identity provider; end their sessions
    /ops/                              cases, most urgent first (filters, search by subjectRef)
    /ops/cases/new, /ops/cases/<id>    open a case; a case's timeline, deadline, requests, history, actions
    /ops/requests/<id>                 a processor request: transitions, callbacks, archive, retry
    /ops/deliveries, /ops/health       refused deliveries over time; readiness and the worker's queue

Every change goes through the same use cases as the API (``receiver.usecases``), so
each history names the operator. Pages need no JavaScript. ``register_console(app)``
wires it in: the blueprint, CSRF (Flask-WTF, checked on every POST of the console
only: the JSON API and the webhook stay exempt), the cookies (Flask's signed-cookie
session is opened for ``/ops`` only), the sign-in's ``SIGN_IN_RATE_LIMIT``, ``GET /``.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_limiter import Limiter
from werkzeug.wrappers import Response

from receiver.web.console import answers, cases, monitoring, people, processor_requests, signing_in  # noqa: F401  imported for the routes they register
from receiver.web.console.access import ConsoleSession, configure_cookies
from receiver.web.console.blueprint import blueprint, csrf

#: The views where a sign-in is refused (a wrong token; the identity provider's answer not accepted).
SIGN_IN_VIEWS = ("console.sign_in_with_token", "console.sign_in_callback")
#: What counts against ``SIGN_IN_RATE_LIMIT``: a refused sign-in.
REFUSED_SIGN_IN = frozenset({400, 401, 403})


def register_console(app: Flask, limiter: Limiter) -> None:
    configure_cookies(app)
    app.session_interface = ConsoleSession()
    csrf.init_app(app)
    _drop_default_csrf_check(app)
    app.register_blueprint(blueprint)
    _limit_sign_in(app, limiter)
    app.add_url_rule("/", "console_home", _to_the_console)


def _drop_default_csrf_check(app: Flask) -> None:
    """Flask-WTF's app-wide hook checks nothing here (``WTF_CSRF_CHECK_DEFAULT`` is off: the console's own
    ``check_csrf`` protects its POSTs), so it is not run on every request."""
    hooks = app.before_request_funcs[None]
    hooks[:] = [
        hook for hook in hooks if getattr(hook, "__qualname__", "") != "CSRFProtect.init_app.<locals>.csrf_protect"
    ]


def _limit_sign_in(app: Flask, limiter: Limiter) -> None:
    """Each address may be refused ``SIGN_IN_RATE_LIMIT`` sign-ins (one limit shared by both ways in)."""
    limit = limiter.shared_limit(
        app.extensions["services"].settings.sign_in_rate_limit,
        scope="console-sign-in",
        deduct_when=lambda response: response.status_code in REFUSED_SIGN_IN,
    )
    for endpoint in SIGN_IN_VIEWS:
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # type: ignore[assignment]  # typed as maybe async


def _to_the_console() -> Response:
    return redirect(url_for("console.cases_list"), code=302)
