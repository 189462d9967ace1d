"""Refused deliveries, seen from the web: who is refused too often, and what ops can read of refusals.

- ``register_refusal_limits``: the client address comes through werkzeug's ``ProxyFix``
  for ``TRUSTED_PROXIES`` proxies (0: the peer itself), and each address may be refused
  at most ``REFUSAL_RATE_LIMIT`` times (Flask-Limiter, counted in Redis when
  ``REPLAY_CACHE_URL`` names one, else per process). Only refusals count, so a genuine
  burst is never limited; past the limit an address is answered 429 before its
  delivery is read. The limit only sheds load, so it never waits long for Redis: its
  calls time out after ``LIMITER_REDIS_TIMEOUT_SECONDS`` and, while Redis does not
  answer, the limits are kept in memory (Flask-Limiter's fallback) instead.
- ``GET /api/deliveries/refused``: the sampled refusals of the last
  ``REFUSAL_SAMPLE_RETENTION_DAYS`` days, newest first (time, status, reason, address,
  the body's SHA-256 and size; never its content).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Flask, Response, jsonify
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from receiver.observability.metrics import CALLBACKS
from receiver.web import webhooks
from receiver.usecases.answers import RefusedPage, shaped
from receiver.usecases.documents import RefusedQuery
from receiver.web.auth import protect
from receiver.web.current import services
from receiver.web.errors import BAD_REQUEST, HttpProblem
from receiver.web.inputs import query
from settings import Settings
from storage import refusals
from storage.clock import utcnow

#: The answers that count against an address: every refusal of a delivery.
REFUSED_STATUSES = frozenset({400, 401, 404, 409, 413, 415})
LIMITER_REDIS_TIMEOUT_SECONDS = 0.25

blueprint = Blueprint("refusals", __name__, url_prefix="/api/deliveries")
protect(blueprint)


def register_refusal_limits(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.replay_cache_url or "memory://",
        storage_options=_storage_options(settings),
        key_prefix="gdpr-receiver:refusals",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        headers_enabled=False,
    )
    limiter.limit(settings.refusal_rate_limit, deduct_when=lambda response: response.status_code in REFUSED_STATUSES)(
        webhooks.blueprint
    )
    app.register_error_handler(RateLimitExceeded, _too_many_refusals)


def _storage_options(settings: Settings) -> dict[str, float]:
    if not settings.replay_cache_url:
        return {}
    seconds = min(LIMITER_REDIS_TIMEOUT_SECONDS, settings.database_timeout_seconds)
    return {"socket_timeout": seconds, "socket_connect_timeout": seconds}


def _too_many_refusals(error: RateLimitExceeded) -> tuple[Response, int]:
    CALLBACKS.labels("rejected", "rate_limited").inc()
    retry_after = str(max(1, int(error.limit.limit.get_expiry()))) if error.limit else "60"
    problem = HttpProblem(429, BAD_REQUEST, "Too many refused deliveries from this address", reason="rate_limited",
                          headers={"Retry-After": retry_after})
    return problem.response()


@blueprint.get("/refused")
def refused() -> Response:
    """The sampled refusals of the retention period, newest first."""
    limit = query(RefusedQuery).limit
    svc = services()
    since = utcnow() - dt.timedelta(days=svc.settings.refusal_sample_retention_days)
    with svc.database.reading() as connection:
        sampled = refusals.recent(connection, since=since, limit=limit)
    return jsonify(shaped(RefusedPage, {"refused": [_sample(refusal) for refusal in sampled]}))


def _sample(refusal: refusals.Refusal) -> dict[str, object]:
    return {
        "receivedAt": refusal.received_at.isoformat().replace("+00:00", "Z"),
        "status": refusal.status_code,
        "reason": refusal.reason,
        "remoteAddr": refusal.remote_addr,
        "bodySha256": refusal.body_sha256,
        "bodyBytes": refusal.body_bytes,
    }
