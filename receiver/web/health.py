"""Liveness and readiness probes for the load balancer and the platform.

``/healthz`` touches no backend, so it answers while one hangs. ``/readyz`` asks each
backend at once, each in a thread of its own, and answers within
``DATABASE_TIMEOUT_SECONDS`` plus ``READINESS_MARGIN_SECONDS`` whatever they do: a
backend that has not answered by then is reported ``timeout`` (its probe ends by its own
bound, in the background).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from flask import Blueprint, Response, jsonify

from receiver.observability.logs import get_logger
from receiver.usecases.answers import Health, Readiness
from receiver.web.current import services
from storage.errors import StorageError

blueprint = Blueprint("health", __name__)
log = get_logger(__name__)

#: How long ``/readyz`` waits past ``DATABASE_TIMEOUT_SECONDS``: the probes' own bounds end within it.
READINESS_MARGIN_SECONDS = 1.0
TIMEOUT = "timeout"


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving."""
    return jsonify(Health.model_construct(status="ok").as_json())


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Every backend the service needs answers: database, replay cache, archive store.

    The advisories (``archive_deletion``: whether the store would refuse the retention policy's
    deletions) are reported beside them and never make the service unready: serving needs none of them.
    """
    current = services()
    wait = current.settings.database_timeout_seconds + READINESS_MARGIN_SECONDS
    gating = current.readiness_probes()
    checks = probe_all({**gating, **current.readiness_advisories()}, wait)
    ready = all(checks[name] == "ok" for name in gating)
    answer = Readiness.model_construct(status="ready" if ready else "unavailable", checks=checks)
    return jsonify(answer.as_json()), 200 if ready else 503


def probe_all(probes: Mapping[str, Callable[[], str | None]], seconds: float) -> dict[str, str]:
    """Run every probe at once; each one's result, or ``timeout`` for one still running after ``seconds``.

    A probe answers ``ok`` by returning None, says what it found by returning it, and fails by raising.
    """
    results = dict.fromkeys(probes, TIMEOUT)

    def run(name: str, probe: Callable[[], None]) -> None:
        results[name] = _check(name, probe)

    threads = [threading.Thread(target=run, args=item, name=f"readyz-{item[0]}", daemon=True)
               for item in probes.items()]  # fmt: skip
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    answered = dict(results)
    for name in (name for name, result in answered.items() if result == TIMEOUT):
        log.warning("readiness.failed", backend=name, reason=TIMEOUT)
    return answered


def _check(name: str, probe: Callable[[], str | None]) -> str:
    try:
        found = probe()
    except StorageError as error:
        log.warning("readiness.failed", backend=name, reason=error.reason, error=error.message)
        return error.reason
    return "ok" if found is None else found
