"""The one logging pipeline: structlog renders every line, ours and the standard library's.

JSON lines on stdout by default, readable lines with ``LOG_FORMAT=console``.
Our events go through structlog's own filtering loggers (a call below the level
costs nothing; one at the level is rendered by structlog alone, without building
a standard-library ``LogRecord``, which cost three times as much on the callback's
hot path). gunicorn's and every other library's records pass through the same
processors and renderer (a ``ProcessorFormatter``; see also ``gunicorn.conf.py``).
Both end in one ``_Sink``: one stream, one lock, whole lines. The request id bound
per request rides along in a context variable.

Events are named ``noun.verb`` with stable fields. Signature keys, tokens,
bodies, archive URLs and personal data values never enter an event; as a second
line of defence ``drop_secret_fields`` removes fields with such names, and
``scrub_url_paths`` cuts every http(s) URL in any text (tracebacks included) down
to ``scheme://host[:port]``.

Every text field is bounded: one longer than ``MAX_FIELD_CHARS`` is cut there and
marked (``bounded``), whatever a request put into it; a traceback (``exception``)
is bounded at ``MAX_TRACEBACK_CHARS``. Views bound what they take from a request
tighter where they know its size (``receiver.web.webhooks``: a request id).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict

from receiver.observability.redaction import scrub_urls

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

#: The longest text field a line carries; ``exception`` (a traceback) may be longer, to ``MAX_TRACEBACK_CHARS``.
MAX_FIELD_CHARS = 1024
MAX_TRACEBACK_CHARS = 16384
_LONG_FIELDS = {"exception": MAX_TRACEBACK_CHARS, "stack": MAX_TRACEBACK_CHARS}
CLIPPED = "…[clipped]"


def bounded(text: str | None, limit: int = MAX_FIELD_CHARS) -> str | None:
    """``text`` cut to at most ``limit`` characters, marked when it was cut; None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[: max(0, limit - len(CLIPPED))] + CLIPPED


#: Library loggers whose routine lines would drown ours; ``http.request`` replaces gunicorn's access log.
QUIET_LOGGERS = {
    "gunicorn.access": "WARNING",
    "alembic.runtime.plugins": "WARNING",
    "botocore": "WARNING",
    "urllib3": "WARNING",
    "s3transfer": "WARNING",
}


def drop_secret_fields(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Replace any field whose name marks it as secret or personal with a placeholder."""
    for name in list(event_dict):
        if name.lower() in SECRET_FIELD_NAMES:
            event_dict[name] = "[redacted]"
    return event_dict


def scrub_url_paths(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Cut every http(s) URL in every text field down to its origin (its path and query may be a bearer token),
    and every text field to its bound."""
    for name, value in event_dict.items():
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS:
                value = event_dict[name] = bounded(value, _LONG_FIELDS.get(name, MAX_FIELD_CHARS))
            if "://" in value:
                event_dict[name] = scrub_urls(value)
    return event_dict


def _shared_processors() -> list[Any]:
    """What every line gets, whoever wrote it: the request's context, level, logger, time, redaction."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        # the wall clock's time, not the service's clock (``storage.clock``): a line says when it was written,
        # also under a test that stopped the service's clock
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_secret_fields,
    ]


class _Sink:
    """Where every line goes: one stream (stdout unless configured), written a whole line at a time."""

    def __init__(self) -> None:
        self.stream: TextIO = sys.stdout
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


_SINK = _Sink()


class _LineLogger:
    """structlog's end of the pipeline: every level's method hands the rendered line to the sink."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def _write(self, line: str) -> None:
        _SINK.write(line)

    debug = info = warning = warn = error = critical = exception = fatal = msg = _write


class _SinkHandler(logging.Handler):
    """The standard library's end: a record formatted by the same processors, written to the same sink."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _SINK.write(self.format(record))
        except Exception:  # logging.Handler's contract: a failed line never raises into the code that logged it
            self.handleError(record)


def _renderer(log_format: str) -> Any:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer(sort_keys=True)


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter every standard-library handler uses (also gunicorn's, via its config)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared_processors()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_url_paths,
            _renderer(log_format),
        ],
    )


def configure_logging(log_format: str = "json", level: str = "INFO", stream: Any = None) -> None:
    """Send structlog's events and the standard library's records through one pipeline to ``stream`` (stdout)."""
    _SINK.stream = stream or sys.stdout
    handler = _SinkHandler()
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
        processors=[
            *_shared_processors(),
            structlog.processors.format_exc_info,
            scrub_url_paths,
            _renderer(log_format),
        ],
        logger_factory=_LineLogger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,  # a later configure_logging (another level or stream) applies at once
    )


def get_logger(name: str) -> Any:
    """A structlog logger named ``name`` (the ``logger`` field of its lines)."""
    return structlog.get_logger(name)
