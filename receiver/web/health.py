"""Liveness and readiness probes for the load balancer and the platform."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from receiver.observability.logs import get_logger
from receiver.web.current import services
from storage.errors import StorageError

blueprint = Blueprint("health", __name__)
log = get_logger(__name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Every backend the service needs answers: database, replay cache, archive store."""
    checks = {name: _check(probe) for name, probe in services().readiness_probes().items()}
    ready = all(result == "ok" for result in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503


def _check(probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except StorageError as error:
        log.warning("readiness.failed", reason=error.reason, error=error.message)
        return error.reason
    return "ok"
