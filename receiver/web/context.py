"""Per request: an id bound to every log event, echoed in ``X-Request-Id``, and one access event.

A view that logs its own event for the request, with the status and the latency (the
callback endpoint's ``callback.accepted``...), calls ``access_logged()`` so that the
request has one event, not two.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

from receiver.observability.logs import get_logger

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = get_logger("receiver.access")
_ANSWER_SECRET = re.compile(r"^(/answer/)[^/]*")


def register_request_context(app: Flask) -> None:
    """Bind a request id to every log event of a request, and log one access event."""
    app.before_request(_bind_request_id)
    app.after_request(_log_access)
    app.teardown_request(_unbind)


def _bind_request_id() -> None:
    offered = request.headers.get("X-Request-Id", "")
    request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex
    request.environ["receiver.request_id"] = request_id
    g.started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(http_request_id=request_id)


def access_logged() -> None:
    """The current request's own event stands as its access event."""
    g.access_logged = True


def _log_access(response: Response) -> Response:
    response.headers["X-Request-Id"] = request.environ.get("receiver.request_id", "")
    if g.get("access_logged"):
        return response
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    access_log.info(
        "http.request",
        method=request.method,
        path=loggable_path(request.path),
        status=response.status_code,
        duration_ms=round(elapsed * 1000, 2),
    )
    return response


def loggable_path(path: str) -> str:
    """``path`` as the access log writes it: the secret of a subject's answer link replaced (``/answer/<secret>``)."""
    return _ANSWER_SECRET.sub(r"\1<secret>", path)


def _unbind(_error: BaseException | None) -> None:
    structlog.contextvars.clear_contextvars()
