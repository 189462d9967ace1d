"""Serving a simulator: a threaded werkzeug server on loopback, with TLS from a trustme CA."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import trustme
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

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
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=context,
                                                   request_handler=QuietHandler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"simulator-{self.port}", daemon=True)

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
