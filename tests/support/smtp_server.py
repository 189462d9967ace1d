"""A real SMTP server on loopback (aiosmtpd, in a thread of its own) that keeps what it is sent (pytest plugin).

``smtp_server`` listens on a free port of 127.0.0.1 in plain SMTP. ``smtp_server_starttls``
offers STARTTLS with a trustme certificate for ``localhost`` and ``127.0.0.1`` (its CA in
``ca_bundle``), and takes mail only over TLS from a client logged in as ``LOGIN`` /
``PASSWORD``. Each keeps ``messages`` (envelope and parsed e-mail, whether it came over
TLS, whether the client had logged in) and counts the TCP connections made to it, so a
test can assert that nothing connected at all; ``answer_next(code, n)`` makes the next
``n`` DATA commands answer ``code`` instead of 250.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.ports import free_port

LOGIN, PASSWORD = "alerts", "app-password-0451"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    over_tls: bool
    authenticated: bool


class _Handler:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.answers: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            parsed = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
            self.messages.append(
                Received(
                    envelope.mail_from or "",
                    list(envelope.rcpt_tos),
                    parsed,  # type: ignore[arg-type]
                    session.ssl is not None,
                    bool(session.authenticated),
                )
            )
        return "250 OK"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (LOGIN.encode(), PASSWORD.encode())
    return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd answers a failure with 535


class _CountingController(Controller):
    """Counts connections: aiosmtpd builds one ``SMTP`` protocol per connection, in the server's loop thread."""

    connections = 0

    def factory(self) -> SMTP:
        self.connections += 1
        return super().factory()


class SmtpServer:
    """The running server and what it received."""

    def __init__(self, *, starttls_ca: trustme.CA | None = None, ca_bundle: str | None = None) -> None:
        self.handler = _Handler()
        self.port = free_port()
        self.ca_bundle = ca_bundle
        options: dict[str, Any] = {}
        if starttls_ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            starttls_ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
            options = {
                "tls_context": context,
                "require_starttls": True,
                "authenticator": _authenticate,
                "auth_required": True,
            }
        self._controller = _CountingController(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        self._running = True
        self.reset()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def connections(self) -> int:
        return self._controller.connections

    def answer_next(self, code: str, times: int = 1) -> None:
        with self.handler.lock:
            self.handler.answers.extend([code] * times)

    def reset(self) -> None:
        """Forget the connection that ``start`` made to check the server was up."""
        self._controller.connections = 0

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def smtp_server_starttls(tmp_path: Path) -> Iterator[SmtpServer]:
    ca = trustme.CA()
    bundle = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = SmtpServer(starttls_ca=ca, ca_bundle=str(bundle))
    yield server
    server.stop()
