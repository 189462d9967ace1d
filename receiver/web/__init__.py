"""Everything that speaks HTTP: the blueprints, the bearer check, the error answers, the request context.

    webhooks (MessageBird's callbacks)      ──┐
    admin (/api, ops), cases, legal holds,  │
    packages (the subject's answer)         ├──▶ receiver.usecases ──▶ storage
    subject (/answer/<secret>: no account)  │
    health, metrics, openapi (the contract) ──┘

``register_web(app)`` wires it all into the application factory. Nothing here
imports ``receiver.jobs``.
"""

from __future__ import annotations

from flask import Flask

from receiver.web import admin, cases, health, legal_holds, metrics, openapi, packages, refusals, subject, webhooks
from receiver.web.console import register_console
from receiver.web.context import register_request_context
from receiver.web.errors import register_errorhandlers

BLUEPRINTS = (
    health.blueprint,
    webhooks.blueprint,
    admin.blueprint,
    cases.blueprint,
    legal_holds.blueprint,
    packages.blueprint,
    metrics.blueprint,
    refusals.blueprint,
    openapi.blueprint,
)


def register_web(app: Flask) -> None:
    """Blueprints, the per-request id and access log, and the handlers that answer every failure."""
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_request_context(app)
    register_errorhandlers(app)
    refusals.register_refusal_limits(app, app.extensions["services"].settings)
    subject.register_subject_pages(app, app.extensions["rate_limiter"])
    register_console(app, app.extensions["rate_limiter"])
    refusals.confine_limiter(app, app.extensions["rate_limiter"], blueprints=(subject.blueprint.name,))
