"""A loopback HTTPS file server with a trustme CA, scripted per path (pytest plugin).

Tests script what a path answers with ``server.route(path, ...)``: a body (bytes or a
``StreamedZip``), a sequence of status codes (one per request, the last repeating),
a redirect ``location``, extra headers such as ``Content-Encoding``, a delay before the
headers, a stall part-way through the body, or a body cut short of its
``Content-Length``. The server counts TCP connections and records request paths, so a
test can assert that nothing connected at all. A POST (a webhook) is answered with the
route's next status and an empty body, and kept whole in ``posts`` (path, headers,
body). Pass ``server.ca_bundle`` as ``FetchPolicy.ca_bundle``; the certificate covers
``localhost``, ``127.0.0.1``, ``::1`` and ``files.test`` / ``*.files.test``.

Fixtures: ``https_server_session`` (one per test session) and ``https_server`` (the
same server with its script and counters reset for each test); ``http_server`` is the
same without TLS.

Run as a program it serves one ``StreamedZip`` (for the bench) and prints its
coordinates as a JSON line: ``python -m tests.support.https_server --zip-size N``.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from tests.support.zips import StreamedZip

HOSTNAMES = ("localhost", "127.0.0.1", "::1", "files.test", "*.files.test")


@dataclass
class Route:
    """What one path answers."""

    body: bytes | StreamedZip = b""
    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    location: str | None = None
    delay: float = 0.0  # seconds before the status line
    stall_after: int | None = None  # bytes of body sent before stalling
    stall: float = 0.0  # seconds to stall
    cut_after: int | None = None  # bytes of body sent before closing, short of Content-Length

    def next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def length(self) -> int:
        return self.body.size if isinstance(self.body, StreamedZip) else len(self.body)

    def chunks(self) -> Iterable[bytes]:
        return self.body.chunks() if isinstance(self.body, StreamedZip) else [self.body]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.server.seen(self.path, dict(self.headers))
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self._answer_headers(404, {"Content-Length": "0"})
            return
        time.sleep(route.delay)
        status = route.next_status()
        headers = {"Content-Type": "application/zip", **route.headers}
        if route.location is not None and 300 <= status < 400:
            headers["Location"] = route.location
        if status != 200:
            self._answer_headers(status, {**headers, "Content-Length": "0"})
            return
        self._answer_headers(status, {**headers, "Content-Length": str(route.length())})
        self._send_body(route)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen(self.path, dict(self.headers))
        route = self.server.routes.get(self.path.split("?", 1)[0])
        status = 404 if route is None else route.next_status()
        if route is not None:
            time.sleep(route.delay)
        self.server.posted(self.path, dict(self.headers), body)
        headers = {"Content-Length": "0"}
        if route is not None and route.location is not None and 300 <= status < 400:
            headers["Location"] = route.location
        self._answer_headers(status, headers)

    def _answer_headers(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_body(self, route: Route) -> None:
        sent = 0
        try:
            for chunk in _limit(route.chunks(), route.cut_after):
                if route.stall_after is not None and sent <= route.stall_after < sent + len(chunk):
                    split = route.stall_after - sent
                    self.wfile.write(chunk[:split])
                    time.sleep(route.stall)
                    chunk = chunk[split:]
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return
        if route.cut_after is not None:
            self.close_connection = True


def _limit(chunks: Iterable[bytes], limit: int | None) -> Iterator[bytes]:
    if limit is None:
        yield from chunks
        return
    for chunk in chunks:
        if limit <= 0:
            return
        yield chunk[:limit]
        limit -= len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.routes: dict[str, Route] = {}
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, object]:
        request, address = self.socket.accept()
        with self._lock:
            self.connections += 1
        return request, address

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """TLS handshake on the handler's thread, so a failed one blocks nobody."""
        if self.context is None:
            super().finish_request(request, client_address)  # type: ignore[arg-type]
            return
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            try:
                super().finish_request(tls, client_address)  # type: ignore[arg-type]
            except (ssl.SSLError, ConnectionError, TimeoutError):
                return

    def seen(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, headers))

    def posted(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.posts.append((path, headers, body))


class ArchiveServer:
    """The running server, its script and what it saw."""

    def __init__(self, directory: Path, *, tls: bool = True) -> None:
        self.ca = trustme.CA()
        self.ca_bundle = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_bundle)
        self.scheme = "https" if tls else "http"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) if tls else None
        if context is not None:
            self.ca.issue_cert(*HOSTNAMES).configure_cert(context)
        self._server = _Server(context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="https-archive-server", daemon=True)
        self._thread.start()

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, body: bytes | StreamedZip = b"", **knobs: object) -> str:
        """Script ``path`` (see ``Route``) and return its URL on 127.0.0.1."""
        self._server.routes[path] = Route(body=body, **knobs)  # type: ignore[arg-type]
        return self.url(path)

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return list(self._server.requests)

    @property
    def posts(self) -> list[tuple[str, dict[str, str], bytes]]:
        """Every POST received: its path (with the query), headers and body."""
        return list(self._server.posts)

    def reset(self) -> None:
        self._server.routes.clear()
        self._server.requests.clear()
        self._server.posts.clear()
        self._server.connections = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def https_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    server = ArchiveServer(tmp_path_factory.mktemp("https-ca"))
    yield server
    server.close()


@pytest.fixture
def https_server(https_server_session: ArchiveServer) -> ArchiveServer:
    https_server_session.reset()
    return https_server_session


@pytest.fixture(scope="session")
def http_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    server = ArchiveServer(tmp_path_factory.mktemp("http-ca"), tls=False)
    yield server
    server.close()


@pytest.fixture
def http_server(http_server_session: ArchiveServer) -> ArchiveServer:
    """The same scripted server without TLS, for the ``allow_http`` development setting."""
    http_server_session.reset()
    return http_server_session


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one generated ZIP over loopback HTTPS.")
    parser.add_argument("--zip-size", type=int, required=True, help="content bytes in the archive")
    arguments = parser.parse_args(argv)
    archive = StreamedZip(data_size=arguments.zip_size)
    server = ArchiveServer(Path(tempfile.mkdtemp(prefix="archive-bench-ca-")))
    url = server.route("/archive.zip", archive)
    print(json.dumps({"url": url, "ca_bundle": server.ca_bundle, "size": archive.size}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    server.close()


if __name__ == "__main__":
    main()
