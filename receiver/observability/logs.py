"""The one logging pipeline: structlog for our events, the standard library routed through it.

JSON lines on stdout by default, readable lines with ``LOG_FORMAT=console``.
gunicorn's and every other library's loggers pass through the same processors
(see ``gunicorn.conf.py``), and the request id bound per request rides along in
a context variable.

Events are named ``noun.verb`` with stable fields. Signature keys, tokens,
bodies and personal data values never enter an event; ``drop_secret_fields``
removes fields with such names as a second line of defence.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

SECRET_FIELD_NAMES = frozenset(
    {
        "authorization",
        "body",
        "data",
        "password",
        "payload",
        "secret",
        "secret_key",
        "signature",
        "signature_key",
        "signaturekey",
        "signing_key",
        "token",
        "access_key",
        "value",
        "url",
    }
)


#: Library loggers whose routine lines would drown ours; ``http.request`` replaces gunicorn's access log.
QUIET_LOGGERS = {"gunicorn.access": "WARNING", "alembic.runtime.plugins": "WARNING", "botocore": "WARNING",
                 "urllib3": "WARNING", "s3transfer": "WARNING"}


def drop_secret_fields(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Replace any field whose name marks it as secret or personal with a placeholder."""
    for name in list(event_dict):
        if name.lower() in SECRET_FIELD_NAMES:
            event_dict[name] = "[redacted]"
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_secret_fields,
    ]


def _renderer(log_format: str) -> Any:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer(sort_keys=True)


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter every standard-library handler uses (also gunicorn's, via its config)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(log_format),
        ],
    )


def configure_logging(log_format: str = "json", level: str = "INFO", stream: Any = None) -> None:
    """Send structlog and the standard library through one handler on ``stream`` (stdout)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("gunicorn.error", "gunicorn.access", "werkzeug"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name, quieter in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quieter)
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
