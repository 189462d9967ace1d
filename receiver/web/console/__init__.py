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
only: the JSON API and the webhook stay exempt), the cookies, ``GET /``.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from receiver.web.console import answers, cases, monitoring, people, processor_requests, signing_in  # noqa: F401  imported for the routes they register
from receiver.web.console.access import configure_cookies
from receiver.web.console.blueprint import blueprint, csrf


def register_console(app: Flask) -> None:
    configure_cookies(app)
    csrf.init_app(app)
    app.register_blueprint(blueprint)
    app.add_url_rule("/", "console_home", _to_the_console)


def _to_the_console() -> Response:
    return redirect(url_for("console.cases_list"), code=302)
