"""``GET /metrics``: every process's counters and the database's facts, for Prometheus.

Open to the ``metrics`` role (a scraper's token, which can read nothing else) and to operators.
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver.observability.metrics import registry_for
from receiver.usecases.operators import METRICS
from receiver.web.auth import authorise
from receiver.web.current import services

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    authorise(METRICS)
    registry = registry_for(services().database, margin_days=services().settings.processor_margin_days)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
