"""Serving a simulator: a threaded werkzeug server on loopback, with TLS from a trustme CA."""

from __future__ import annotations

import dataclasses
import ssl
import threading
from pathlib import Path
from typing import Any

import trustme
from flask import Flask, Response, jsonify, request
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

#: The names the simulator certificate covers.
HOSTNAMES = ("127.0.0.1", "localhost", "::1")


class QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log line per request."""

    def log_request(self, *args: object, **kwargs: object) -> None:
        return


def tls_context(ca_file: Path) -> ssl.SSLContext:
    """A server context with a fresh trustme CA, whose certificate is written to ``ca_file``."""
    ca = trustme.CA()
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*HOSTNAMES).configure_cert(context)
    return context


class Server:
    """``app`` served on ``host:port`` (0: a free port) in a background thread until ``close()``."""

    def __init__(self, app: Flask, *, host: str = "127.0.0.1", port: int = 0, ca_file: Path | None = None) -> None:
        context = tls_context(ca_file) if ca_file is not None else None
        self.ca_file = ca_file
        self._server = ThreadedWSGIServer(host, port, app, handler=QuietHandler, ssl_context=context)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"simulator-{self.port}",
            daemon=True,
        )

    def start(self) -> Server:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


class SimulatorBase:
    """What both simulators share: the API calls seen, the misbehaviour knobs, and the ``/_simulator`` routes.

    A subclass sets ``knobs_type`` (a dataclass with ``rate_limit``, ``server_errors`` and
    ``update(changes)``), and provides ``_show()``; its ``requests`` dict is what ``reset`` clears.
    """

    knobs_type: Any

    def __init__(self, knobs: Any = None) -> None:
        self.knobs = knobs or self.knobs_type()
        self.requests: dict[str, Any] = {}
        self.api_calls = 0
        #: Every API request seen: method, path and the headers the docs ask for.
        self.seen: list[dict[str, str | None]] = []
        self.base_url = ""
        self._lock = threading.Lock()

    def add_simulator_routes(self, app: Flask) -> None:
        app.before_request(self._record)
        app.add_url_rule("/_simulator/requests", view_func=self._show, methods=["GET"])
        app.add_url_rule("/_simulator/knobs", view_func=self._set_knobs, methods=["GET", "POST"])
        app.add_url_rule("/_simulator/reset", view_func=self._reset, methods=["POST"])

    def _show(self) -> Response:
        raise NotImplementedError

    def _record(self) -> None:
        if not request.path.startswith("/_simulator"):
            with self._lock:
                self.seen.append(
                    {
                        "method": request.method,
                        "path": request.path,
                        "authorization": request.headers.get("Authorization"),
                        "accept": request.headers.get("Accept"),
                        "contentType": request.headers.get("Content-Type"),
                    }
                )

    def _take_knobs(self) -> Any:
        """Count one API call and return the knobs it meets, using up one planned 429 or 500."""
        with self._lock:
            self.api_calls += 1
            knobs = dataclasses.replace(self.knobs)
            if self.knobs.rate_limit > 0:
                self.knobs.rate_limit -= 1
            elif self.knobs.server_errors > 0:
                self.knobs.server_errors -= 1
        return knobs

    def _set_knobs(self) -> tuple[Response, int] | Response:
        if request.method == "POST":
            try:
                with self._lock:
                    self.knobs.update(request.get_json(force=True) or {})
            except (ValueError, TypeError) as problem:
                return jsonify(error=str(problem)), 400
        return jsonify(dataclasses.asdict(self.knobs))

    def _reset(self) -> Response:
        with self._lock:
            self.requests.clear()
            self.api_calls = 0
            self.seen.clear()
            self.knobs = self.knobs_type()
        return jsonify(reset=True)
