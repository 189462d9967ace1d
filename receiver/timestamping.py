"""RFC 3161 time-stamps: a message's SHA-256 signed, with the time, by a time-stamping authority we do not run.

``TimeStamper.stamp(message)`` asks each authority of ``AUDIT_TSA_URL`` in turn (the
first that answers a reply that verifies wins) and gives the whole reply back
(``TimeStampResp``, DER: what ``openssl ts -verify -in`` reads). Every reply is checked
before it is kept (``rfc3161-client``): granted, signed by a certificate that chains to
``AUDIT_TSA_CA_FILE`` and carries the time-stamping usage, over this message's SHA-256,
with our nonce. The requests go out under the same checks as every outbound request
(``receiver.fetching``: allowed hosts are the authorities', ``AUDIT_TSA_PRIVATE_HOSTS``
for one on a private network, plain HTTP only with ``AUDIT_TSA_ALLOW_HTTP``), and one
``stamp`` waits ``AUDIT_TSA_TIMEOUT_SECONDS`` in all, however many authorities it tries.
``TimeStamper.check(reply, message)`` verifies a reply kept earlier and answers its time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from rfc3161_client import TimestampRequestBuilder, VerificationError, VerifierBuilder, decode_timestamp_response

from receiver.fetching import FetchError, FetchPolicy, post_for_answer
from receiver.observability.logs import get_logger
from storage.errors import ServiceError

log = get_logger("receiver.timestamping")

MAX_REPLY_BYTES = 64 * 1024
_HEADERS = {"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"}


class TimestampError(ServiceError):
    """No time-stamp: ``reason`` is a stable code (``unavailable``, ``invalid_reply``, ``not_configured``)."""


@dataclass(frozen=True)
class Stamp:
    """A reply that verified: which authority, its bytes, and the time it signed."""

    tsa_url: str
    reply: bytes
    stamped_at: dt.datetime


@dataclass
class TimeStamper:
    urls: tuple[str, ...]
    roots: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate]
    policy: FetchPolicy
    timeout: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.urls)

    def stamp(self, message: bytes) -> Stamp:
        """A verified time-stamp over ``message`` from the first authority that gives one within the timeout."""
        if not self.urls:
            raise TimestampError("not_configured", "no time-stamping authority is configured (AUDIT_TSA_URL)")
        deadline, failures = self.clock() + self.timeout, []
        for url in self.urls:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            try:
                return self._stamp_at(url, message, remaining)
            except (FetchError, TimestampError) as error:
                reason = error.reason
                failures.append(f"{urlsplit(url).hostname}: {reason}")
                log.warning("timestamp.failed", tsa=urlsplit(url).hostname, reason=reason)
        raise TimestampError("unavailable", "no time-stamp within the timeout: " + ("; ".join(failures) or "timeout"))

    def check(self, reply: bytes, message: bytes, *, nonce: int | None = None) -> dt.datetime:
        """The time ``reply`` gives ``message``; ``TimestampError`` ``invalid_reply`` unless it verifies."""
        if not self.roots:
            raise TimestampError("not_configured", "no certificate to verify a time-stamp against (AUDIT_TSA_CA_FILE)")
        try:
            response = decode_timestamp_response(reply)
            builder = VerifierBuilder(roots=list(self.roots), intermediates=list(self.intermediates), nonce=nonce)
            builder.build().verify_message(response, message)
        except (ValueError, VerificationError) as error:
            raise TimestampError("invalid_reply", f"the time-stamp does not verify: {error}") from None
        stamped_at: dt.datetime = response.tst_info.gen_time
        return stamped_at if stamped_at.tzinfo else stamped_at.replace(tzinfo=dt.UTC)

    def _stamp_at(self, url: str, message: bytes, remaining: float) -> Stamp:
        request = TimestampRequestBuilder().data(message).nonce(nonce=True).cert_request(cert_request=True).build()
        policy = dataclasses.replace(self.policy, connect_timeout=remaining, read_timeout=remaining)
        status, answer = post_for_answer(url, request.as_bytes(), _HEADERS, policy, max_bytes=MAX_REPLY_BYTES)
        if status != 200:
            raise TimestampError(f"http_{status}", f"the authority answered {status}")
        return Stamp(url, answer, self.check(answer, message, nonce=request.nonce))


def load_certificates(path: str | None) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """The PEM file's self-signed certificates (roots) and the others (intermediates)."""
    if path is None:
        return [], []
    certificates = x509.load_pem_x509_certificates(Path(path).read_bytes())
    roots = [c for c in certificates if c.subject == c.issuer]
    return roots, [c for c in certificates if c.subject != c.issuer]


def tsa_policy(urls: Sequence[str], *, private_hosts: tuple[str, ...], allow_http: bool, timeout: float) -> FetchPolicy:
    """The outbound checks for the authorities: their hosts (and ports) allowed, nothing else."""
    allowed = []
    for url in urls:
        parts = urlsplit(url)
        host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else (parts.hostname or "")
        allowed.append(f"{host}:{parts.port}" if parts.port else host)
    return FetchPolicy(
        allowed_hosts=tuple(allowed),
        private_hosts=private_hosts,
        allow_http=allow_http,
        connect_timeout=timeout,
        read_timeout=timeout,
        max_redirects=0,
    )
