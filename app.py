"""The application factory: ``create_app()`` builds the web service from the settings."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask

from receiver.cli import register_commands
from receiver.observability.logs import configure_logging
from receiver.services import build_services
from receiver.web import register_web
from settings import Settings, load_settings

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from ``config`` (environment-style names and strings) or ``os.environ``.

    A missing or malformed setting raises ``settings.ConfigError`` naming each problem.
    """
    settings = load_settings(os.environ if config is None else config)
    configure_logging(settings.log_format, settings.log_level)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, JSON_SORT_KEYS=False)
    register_extensions(app, settings)
    register_web(app)
    register_commands(app)
    return app


def register_extensions(app: Flask, settings: Settings) -> None:
    app.extensions["services"] = build_services(settings)
