"""Notifications by e-mail: one plain-text message per notification to ``NOTIFY_EMAIL_TO`` over SMTP.

``SMTP_URL`` is ``smtp://[user:password@]host[:port]`` (port 25 by default; STARTTLS
whenever the server offers it, and the password is sent only over TLS) or
``smtps://...`` (port 465, TLS from the start). The server's name is resolved once
and its address checked like an archive host's (``receiver.fetching.pinned_address``:
a relay on loopback or a private network must be named in ``NOTIFY_PRIVATE_HOSTS``);
the connection goes to that address while TLS checks the certificate against the
name, with the CA bundle of ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` (else
certifi's), as for archives.

The message's ``Message-ID`` is derived from the notification's id, so it is the
same on every attempt; its text is the message's fields and the JSON sent to the
webhook, nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi

from receiver.fetching import FetchError, FetchPolicy, pinned_address
from receiver.notifications.errors import NotifyError

EMAIL = "email"
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}

_SUBJECTS = {
    "case.due_soon": "Case {caseId} ({subjectRef}) is due on {dueOn}: {daysLeft} days left",
    "case.overdue": "Case {caseId} ({subjectRef}) is overdue: it was due on {dueOn}",
    "request.failed": "Request {requestId} at {provider} failed: case {caseId} ({subjectRef}) is due on {dueOn}",
    "request.late": "Request {requestId} at {provider} is past its target {targetOn}: case {caseId} ({subjectRef})",
    "case.answer_downloaded": "Case {caseId} ({subjectRef}): the subject downloaded the answer ({downloadedAt})",
    "case.answer_not_downloaded": (
        "Case {caseId} ({subjectRef}): link {linkId} expired before the answer was downloaded"
    ),
}


def compose(
    message_id: str, message_type: str, body: str, *, sender: str, recipients: tuple[str, ...], now: dt.datetime
) -> EmailMessage:
    """The e-mail for one notification: a subject that says what is due, the fields, and the JSON message."""
    data: dict[str, Any] = json.loads(body)["data"]
    shown = {name: " ".join(str(value).split()) for name, value in data.items()}  # no line breaks in a header
    email = EmailMessage()
    email["Subject"] = "[GDPR] " + _SUBJECTS.get(message_type, message_type).format_map(_Blank(shown))
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = format_datetime(now.astimezone(dt.UTC))
    email["Message-ID"] = f"<{message_id}@{sender.rsplit('@', 1)[1]}>"
    lines = [
        f"{message_type}",
        "",
        *(f"{name}: {value}" for name, value in shown.items()),
        "",
        f"Notification id: {message_id}",
        "",
        body,
    ]
    email.set_content("\n".join(lines) + "\n")
    return email


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


class MailChannel:
    """Sends each notification to the recipients through one SMTP server."""

    name = EMAIL

    def __init__(
        self,
        smtp_url: str,
        *,
        sender: str,
        recipients: tuple[str, ...],
        policy: FetchPolicy,
        timeout: float,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        parts = urlsplit(smtp_url)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self._login = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        self._sender, self._recipients = sender, recipients
        self._policy, self._timeout, self._environ = policy, timeout, environ
        self.origin = f"{self._scheme}://{self._host}:{self._port}"

    @property
    def sender(self) -> str:
        return self._sender

    def send(self, message_id: str, message_type: str, body: str, *, now: dt.datetime) -> None:
        """Hand the e-mail to the SMTP server once; ``NotifyError`` when it was not accepted."""
        email = compose(message_id, message_type, body, sender=self._sender, recipients=self._recipients, now=now)
        self.deliver(email, self._recipients)

    def deliver(self, email: EmailMessage, recipients: tuple[str, ...]) -> None:
        """Hand ``email`` to the SMTP server for ``recipients``, from this channel's sender; ``NotifyError`` when it
        was not accepted. The error never names a recipient."""
        try:
            address = pinned_address(self._scheme, self._host, self._port, self._policy)
        except FetchError as error:
            raise NotifyError(error.reason, f"email failed: {error.message}", retryable=error.retryable) from None
        try:
            with self._session(str(address)) as smtp:
                smtp.send_message(email, from_addr=self._sender, to_addrs=list(recipients))
        except NotifyError:
            raise
        except (smtplib.SMTPException, OSError) as error:
            reason, retryable = smtp_failure(error)
            raise NotifyError(reason, f"email failed: {reason} at {self.origin}", retryable=retryable) from None

    def _session(self, address: str) -> smtplib.SMTP:
        """A connected session to ``address`` speaking TLS where it can, logged in when the URL has credentials."""
        context = ssl.create_default_context(cafile=self._ca_file())
        local_name = self._sender.rsplit("@", 1)[1]
        if self._scheme == "smtps":
            smtp: smtplib.SMTP = _PinnedSMTPS(
                address, self._host, local_hostname=local_name, timeout=self._timeout, context=context
            )
        else:
            smtp = _PinnedSMTP(address, self._host, local_hostname=local_name, timeout=self._timeout)
        try:
            smtp.connect(self._host, self._port)
            smtp.ehlo()
            if self._scheme == "smtp" and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._login is not None:
                if self._scheme == "smtp" and smtp.sock is not None and not isinstance(smtp.sock, ssl.SSLSocket):
                    raise NotifyError(
                        "smtp_auth_needs_tls", f"email failed: smtp_auth_needs_tls at {self.origin}", retryable=False
                    )
                smtp.login(*self._login)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _ca_file(self) -> str:
        return self._environ.get("REQUESTS_CA_BUNDLE") or self._environ.get("SSL_CERT_FILE") or certifi.where()


def smtp_failure(error: BaseException) -> tuple[str, bool]:
    """A fixed reason for an SMTP or network failure, and whether trying later may help."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "smtp_auth", False
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "smtp_recipients_refused", False
    if isinstance(error, smtplib.SMTPResponseException):
        return f"smtp_{error.smtp_code}", not 500 <= error.smtp_code < 600
    if isinstance(error, ssl.SSLError):
        return "tls", False
    if isinstance(error, TimeoutError):
        return "timeout", True
    if isinstance(error, smtplib.SMTPException | OSError):
        return "connection", True
    return "unknown", True


class _PinnedConnection:
    """Connects to the address that was checked, while ``_host`` (SNI, the certificate check) stays the name.

    smtplib takes ``_host`` for STARTTLS's and SMTPS's ``server_hostname``; it is set
    only by the constructor, which is given no host here so that it does not connect.
    """

    _pinned: str

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self._pinned, port, timeout)  # type: ignore[misc]  # smtplib's hook, not in its stub


class _PinnedSMTP(_PinnedConnection, smtplib.SMTP):
    def __init__(self, pinned: str, hostname: str, **options: Any) -> None:
        self._pinned = pinned
        super().__init__(**options)
        self._host = hostname


class _PinnedSMTPS(_PinnedConnection, smtplib.SMTP_SSL):
    def __init__(self, pinned: str, hostname: str, **options: Any) -> None:
        self._pinned = pinned
        super().__init__(**options)
        self._host = hostname
