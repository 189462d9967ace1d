"""Refused deliveries, seen from the web: who is refused too often, and what ops can read of refusals.

- ``register_refusal_limits``: the client address comes through werkzeug's ``ProxyFix``
  for ``TRUSTED_PROXIES`` proxies (0: the peer itself), and each address may be refused
  at most ``REFUSAL_RATE_LIMIT`` times (``RefusalCounter``: fixed windows, counted in Redis
  when ``REPLAY_CACHE_URL`` names one, else per process). Only refusals count, so a genuine
  burst is never limited, and they are counted after the answer, so a delivery costs nothing
  of the limit until it is refused: the refusal that takes an address past its limit is
  answered 429, and from then on its deliveries are answered 429 before they are read
  (``LimitedAddresses``). The limit only sheds load, so it never waits long for Redis: its
  calls time out after ``LIMITER_REDIS_TIMEOUT_SECONDS`` and, while Redis does not answer,
  the counts are kept in memory instead.
- ``confine_limiter``: Flask-Limiter (the subject's pages, the console's sign-in) hooks itself
  into every request; its hooks are moved to the blueprints that have a limit and, for the
  console's sign-in, into its limited views, so that every other request (``/healthz``, the
  webhook, the API, the console's pages) costs nothing of it.
- ``LimitedAddresses``: once an address is over its limit, this process answers that
  address's deliveries 429 from a WSGI filter until the limit's window resets, without
  Flask or Redis: a flood from a limited address costs little more than reading its
  request line. The counter decides; this remembers.
- ``GET /api/deliveries/refused``: the sampled refusals of the last
  ``REFUSAL_SAMPLE_RETENTION_DAYS`` days, newest first (time, status, reason, address,
  the body's SHA-256 and size; never its content).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from flask.globals import request_ctx
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from receiver.observability.logs import get_logger
from receiver.observability.metrics import CALLBACKS
from receiver.usecases.callbacks import MESSAGEBIRD_CALLBACK_PATH
from receiver.usecases.documents import RefusedQuery
from receiver.usecases.refused_deliveries import refused_page
from receiver.web import webhooks
from receiver.web.auth import protect
from receiver.web.current import services
from receiver.web.errors import BAD_REQUEST, HttpProblem
from receiver.web.inputs import query
from settings import Settings

#: The answers that count against an address: every refusal of a delivery.
REFUSED_STATUSES = frozenset({400, 401, 404, 409, 413, 415})
LIMITER_REDIS_TIMEOUT_SECONDS = 0.25

TOO_MANY = "Too many refused deliveries from this address"

blueprint = Blueprint("refusals", __name__, url_prefix="/api/deliveries")
protect(blueprint)
log = get_logger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LimitedAddresses:
    """A WSGI filter in front of the app: deliveries from an address known to be over its refusal
    limit are answered 429 here, until the limit's window resets (per process, at most
    ``MAX_ADDRESSES`` remembered)."""

    MAX_ADDRESSES = 10_000
    _BODY = json.dumps({"errors": [{"code": BAD_REQUEST, "description": TOO_MANY}]}).encode()

    def __init__(self, wsgi_app: WsgiApp, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._wsgi_app = wsgi_app
        self._clock = clock
        self._until: dict[str, float] = {}

    def block(self, address: str, until: float) -> None:
        """Answer ``address``'s deliveries 429 until ``until`` (by the filter's clock: ``time.monotonic``)."""
        if len(self._until) >= self.MAX_ADDRESSES:
            now = self._clock()
            self._until = {kept: ends for kept, ends in self._until.items() if ends > now}
            if len(self._until) >= self.MAX_ADDRESSES:
                self._until.clear()  # a flood of addresses: Flask-Limiter still limits each one
        self._until[address] = until

    def block_for(self, address: str, seconds: float) -> None:
        """Answer ``address``'s deliveries 429 for the next ``seconds``."""
        self.block(address, self._clock() + seconds)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        until = self._until.get(environ.get("REMOTE_ADDR", ""))
        if until is None or environ.get("PATH_INFO") != MESSAGEBIRD_CALLBACK_PATH:
            return self._wsgi_app(environ, start_response)
        seconds = until - self._clock()
        if seconds <= 0:
            self._until.pop(environ.get("REMOTE_ADDR", ""), None)
            return self._wsgi_app(environ, start_response)
        CALLBACKS.labels("rejected", "rate_limited").inc()
        start_response("429 TOO MANY REQUESTS", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(self._BODY))),
            ("Retry-After", str(max(1, math.ceil(seconds)))),
        ])  # fmt: skip
        return [self._BODY]


def register_refusal_limits(app: Flask, settings: Settings) -> None:
    limited = LimitedAddresses(app.wsgi_app)
    app.wsgi_app = limited  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
    if settings.trusted_proxies:  # outermost: the filter and the app see the client's address
        proxied = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
        app.wsgi_app = proxied  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
    app.extensions["limited_addresses"] = limited
    counter = RefusalCounter(settings.refusal_rate_limit, settings.replay_cache_url, _storage_options(settings))
    app.after_request_funcs.setdefault(webhooks.blueprint.name, []).append(
        lambda response: _count_refusal(response, counter, limited)
    )
    app.extensions["refusal_counter"] = counter
    app.extensions["rate_limiter"] = Limiter(  # the subject's answer pages and the console's sign-in
        get_remote_address,
        app=app,
        storage_uri=settings.replay_cache_url or "memory://",
        storage_options=_storage_options(settings),  # type: ignore[arg-type]  # redis-py takes float seconds
        key_prefix="gdpr-receiver:limits",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        headers_enabled=False,
    )


class RefusalCounter:
    """Each address's refused deliveries, counted against ``REFUSAL_RATE_LIMIT`` (fixed windows, as
    Flask-Limiter counts): in Redis when ``REPLAY_CACHE_URL`` names one, else in this process, and in this
    process too while Redis does not answer (tried again after ``RETRY_SHARED_SECONDS``).

    Counted after the answer and only for a refusal, so a delivery costs nothing of it until it is refused.
    """

    RETRY_SHARED_SECONDS = 30.0
    MAX_WINDOWS = 100_000

    def __init__(self, rate: str, storage_uri: str | None, options: dict[str, float]) -> None:
        self._limits = parse_many(rate)
        self._shared = FixedWindowRateLimiter(storage_from_string(storage_uri, **options)) if storage_uri else None
        self._shared_down_until = 0.0
        self._windows: dict[tuple[int, str], list[float]] = {}
        self._lock = threading.Lock()

    def refused(self, address: str) -> int | None:
        """Count one refusal of ``address``: the seconds its limit's window lasts if it is now over it, else None."""
        for limit in self._limits:
            if not self._hit(limit, address):
                return max(1, int(limit.get_expiry()))
        return None

    def _hit(self, limit: RateLimitItem, address: str) -> bool:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                return self._shared.hit(limit, KEY_PREFIX, address)
            except Exception as error:  # any failure of the store: count here instead
                self._shared_down_until = time.monotonic() + self.RETRY_SHARED_SECONDS
                log.warning("refusal_limit.store_failed", error_type=type(error).__name__)
        return self._hit_here(limit, address)

    def _hit_here(self, limit: RateLimitItem, address: str) -> bool:
        now = time.monotonic()
        key = (id(limit), address)
        with self._lock:
            window = self._windows.get(key)
            if window is None or now >= window[0]:
                if len(self._windows) >= self.MAX_WINDOWS:
                    self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
                    if len(self._windows) >= self.MAX_WINDOWS:
                        self._windows.clear()  # a flood of addresses: each is counted afresh
                window = self._windows[key] = [now + limit.get_expiry(), 0]
            window[1] += 1
            return window[1] <= limit.amount


KEY_PREFIX = "gdpr-receiver:refusals"


def _count_refusal(response: Response, counter: RefusalCounter, limited: LimitedAddresses) -> Response:
    """After a refusal: count it; the one that takes its address past the limit is answered 429 instead, and
    the address's deliveries are then answered 429 by ``limited`` for the limit's window. In
    ``receiver_callbacks_total`` that one stays counted under its refusal's reason; the 429s after it, as
    ``rate_limited``."""
    if response.status_code not in REFUSED_STATUSES:
        return response
    address = request.remote_addr or ""
    window = counter.refused(address)
    if window is None:
        return response
    limited.block_for(address, window)  # counted once, by the view, under its refusal's reason
    log.warning("callback.address_limited", retry_after_s=window)  # the address: GET /api/deliveries/refused
    problem = HttpProblem(429, BAD_REQUEST, TOO_MANY, reason="rate_limited", headers={"Retry-After": str(window)})
    answer, status = problem.response()
    answer.status_code = status
    return answer


def confine_limiter(app: Flask, limiter: Limiter, blueprints: Iterable[str]) -> None:
    """Run ``limiter``'s check only before the views of ``blueprints`` (first of their hooks), and its
    after-request step (the deductions that wait for the answer) only for a request it checked.

    A view decorated with one of ``limiter``'s limits checks it itself (Flask-Limiter's decorator),
    so it needs no hook. The limiter's per-request state lives on the request context, which ends
    with the request: its teardown hook is not needed either.
    """
    check, after, release = limiter._check_request_limit, _limiter_hook(app.after_request_funcs), limiter
    app.before_request_funcs[None].remove(check)
    app.after_request_funcs[None].remove(after)
    app.teardown_request_funcs[None] = [
        hook for hook in app.teardown_request_funcs[None] if getattr(hook, "__self__", None) is not release
    ]
    for name in blueprints:
        app.before_request_funcs.setdefault(name, []).insert(0, check)

    def deduct_when_checked(response: Response) -> Response:
        if hasattr(request_ctx, "_limiter_request_context"):  # set by the limiter's check
            return after(response)
        return response

    app.after_request(deduct_when_checked)


def _limiter_hook(hooks: dict[str | None, list[Callable[..., Any]]]) -> Callable[..., Any]:
    """Flask-Limiter's after-request hook among the app's (a ``functools.partial`` of its ``__inject_headers``)."""
    return next(hook for hook in hooks[None] if "Limiter" in getattr(getattr(hook, "func", None), "__qualname__", ""))


def _storage_options(settings: Settings) -> dict[str, float]:
    if not settings.replay_cache_url:
        return {}
    seconds = min(LIMITER_REDIS_TIMEOUT_SECONDS, settings.database_timeout_seconds)
    return {"socket_timeout": seconds, "socket_connect_timeout": seconds}


@blueprint.get("/refused")
def refused() -> Response:
    """The sampled refusals of the retention period, newest first."""
    return jsonify(refused_page(services(), limit=query(RefusedQuery).limit).as_json())
