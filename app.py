"""The application factory: ``create_app()`` builds the web service from the settings."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping

import structlog
from flask import Flask, Response, g, request

from receiver import admin, health, metrics, webhooks
from receiver.cli import register_commands
from receiver.errors import register_errorhandlers
from receiver.logs import configure_logging, get_logger
from receiver.services import build_services
from settings import Settings, load_settings

MAX_REQUEST_BYTES = 1024 * 1024
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = get_logger("receiver.access")


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from ``config`` (environment-style names and strings) or ``os.environ``."""
    settings = load_settings(os.environ if config is None else config)
    configure_logging(settings.log_format, settings.log_level)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, JSON_SORT_KEYS=False)
    register_extensions(app, settings)
    register_request_context(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask, settings: Settings) -> None:
    app.extensions["services"] = build_services(settings)


def register_blueprints(app: Flask) -> None:
    for blueprint in (health.blueprint, webhooks.blueprint, admin.blueprint, metrics.blueprint):
        app.register_blueprint(blueprint)


def register_request_context(app: Flask) -> None:
    """Bind a request id to every log event of a request, and log one access event."""

    @app.before_request
    def bind_request_id() -> None:
        offered = request.headers.get("X-Request-Id", "")
        request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        request.environ["receiver.request_id"] = request_id
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(http_request_id=request_id)

    @app.after_request
    def log_access(response: Response) -> Response:
        response.headers["X-Request-Id"] = request.environ.get("receiver.request_id", "")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        access_log.info(
            "http.request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 2),
        )
        return response

    @app.teardown_request
    def unbind(_error: BaseException | None) -> None:
        structlog.contextvars.clear_contextvars()
