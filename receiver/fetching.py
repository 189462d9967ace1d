"""The SSRF-safe download of a personal-data archive from the URL a callback carried.

The URL comes from a third party, so the worker must not let it reach anything but the
processor's file hosts. ``open_archive(url, policy)`` therefore, for the first request
and again for every redirect hop:

1. accepts only ``https`` (``http`` only with the explicit ``allow_http`` dev setting),
   refuses URLs with credentials, and refuses a host that matches no ``allowed_hosts``
   pattern, all before any connection;
2. resolves the host once and connects to exactly that address (requests-hardened's
   ``IPFilterAdapter``: no DNS-rebinding gap; the hostname is still what SNI and the
   certificate check use), refusing loopback, private, link-local (cloud metadata),
   special-purpose (CG-NAT, 6to4, NAT64), multicast, reserved and unspecified
   addresses, and IPv4-mapped IPv6 forms of them,
   unless the URL's exact host (and port) is itself named in ``allowed_hosts``;
3. ignores proxy and CA settings from the environment (``trust_env=False``; the CA
   bundle is resolved explicitly), asks for ``Accept-Encoding: identity`` and refuses a
   body with any other ``Content-Encoding``, and verifies certificates.

Host patterns: ``files.example.com`` (the scheme's default port only),
``files.example.com:8443``, ``*.example.com`` (any subdomain, not the apex, default
port) or ``*.example.com:8443``; IPv6 literals as ``[2001:db8::1]:8443``.

Every failure is ``FetchError`` with a ``reason`` and a ``retryable`` flag. Messages
carry the redacted URL (scheme, host, path), never the query string, which may hold an
access token.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

USER_AGENT = "gdpr-callback-receiver/0.1 (archive download)"
_DEFAULT_PORTS = {"https": 443, "http": 80}
_HOST_PATTERN = re.compile(r"(?P<host>\*\.[a-z0-9.-]+|[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")

#: Special-purpose ranges refused beyond what ``ipaddress`` flags (requests-hardened refuses them too).
_EXTRA_REFUSED = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT, often internal
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64: embeds any IPv4 address
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),  # 6to4: embeds any IPv4 address
)


class FetchError(Exception):
    """The archive could not be downloaded; ``reason`` is a stable code for logs and metrics.

    Reasons: ``bad_url``, ``scheme_not_allowed``, ``host_not_allowed``,
    ``address_not_allowed``, ``redirect_refused``, ``http_status``, ``content_encoding``,
    ``timeout``, ``connection``, ``tls``.
    """

    def __init__(self, reason: str, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    """Where archives may be downloaded from, and how patiently."""

    allowed_hosts: tuple[str, ...]
    allow_http: bool = False
    connect_timeout: float = 10
    read_timeout: float = 60
    max_redirects: int = 3
    #: CA bundle path; ``None`` means ``REQUESTS_CA_BUNDLE``, then ``SSL_CERT_FILE``, then certifi.
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        for pattern in self.allowed_hosts:
            if not _HOST_PATTERN.fullmatch(pattern.lower()):
                raise ValueError(f"allowed_hosts: not a host or host:port pattern: {pattern!r}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.max_redirects < 0:
            raise ValueError("timeouts must be positive and max_redirects not negative")


class ArchiveBody:
    """The response body as a raw byte stream: ``read(n)``, empty at the end, no decoding."""

    def __init__(self, response: requests.Response, *, url: str) -> None:
        self._raw = response.raw
        self.url = url  #: the redacted URL the body came from (after redirects)
        length = response.headers.get("Content-Length", "")
        self.content_length = int(length) if length.isdigit() else None

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._raw.read(size if size >= 0 else None, decode_content=False)
        except urllib3.exceptions.ReadTimeoutError as error:
            raise FetchError("timeout", f"reading {self.url} timed out", retryable=True) from error
        except urllib3.exceptions.HTTPError as error:
            failure = f"reading {self.url} failed: {type(error).__name__}"
            raise FetchError("connection", failure, retryable=True) from error


@contextmanager
def open_archive(url: str, policy: FetchPolicy, *, environ: Mapping[str, str] = os.environ) -> Iterator[ArchiveBody]:
    """Connect to the archive at ``url`` under ``policy`` and yield its body; closes it on exit."""
    with _session(policy) as session:
        response = _follow_redirects(session, url, policy, verify=_ca_bundle(policy, environ))
        try:
            redacted = redact(response.url)
            _check_response(response, redacted)
            yield ArchiveBody(response, url=redacted)
        finally:
            response.close()


def redact(url: str) -> str:
    """``scheme://host[:port]/path``: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if _port_or_none(parts) else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def classify_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address must not be connected to (``"loopback"``, ``"private"``...), or ``None``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link_local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("site_local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("private", address.is_private),
        ("special", any(address in network for network in _EXTRA_REFUSED if network.version == address.version)),
        ("not_global", not address.is_global),
    )
    return next((name for name, refused in checks if refused), None)


def host_allowed(scheme: str, host: str, port: int, patterns: tuple[str, ...]) -> tuple[bool, bool]:
    """``(allowed, named_exactly)`` for ``host:port`` under ``patterns``."""
    host = host.lower().strip("[]")
    allowed = named = False
    for pattern in patterns:
        match = _HOST_PATTERN.fullmatch(pattern.lower())
        if match is None:
            continue
        pattern_host = match["host"].strip("[]")
        pattern_port = int(match["port"]) if match["port"] else _DEFAULT_PORTS.get(scheme)
        if pattern_port != port:
            continue
        if pattern_host.startswith("*."):
            allowed = allowed or host.endswith(pattern_host[1:])
        elif pattern_host == host:
            allowed = named = True
    return allowed, named


class _CheckedAddressAdapter(IPFilterAdapter):
    """requests-hardened's address pinning and filter, plus ``classify_address``, per request.

    A host named exactly in ``allowed_hosts`` skips the address rules (plain requests
    adapter); every other host is resolved once by requests-hardened, which refuses
    private and loopback addresses and connects to the address it checked, and the
    address it chose must also pass ``classify_address``.
    """

    def __init__(self, *, https: bool, policy: FetchPolicy) -> None:
        super().__init__(is_https_proto=https, allow_loopback=False)
        self._policy = policy

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._named_exactly(request.url or ""):
            return HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = ipaddress.ip_address(host_params["host"].strip("[]"))
        refused = classify_address(address)
        if refused is not None:
            raise InvalidIPAddress(f"{refused} address")
        return host_params, pool_kwargs

    def _named_exactly(self, url: str) -> bool:
        parts = urlsplit(url)
        port = _port_or_none(parts) or _DEFAULT_PORTS.get(parts.scheme, 0)
        return host_allowed(parts.scheme, parts.hostname or "", port, self._policy.allowed_hosts)[1]


def _session(policy: FetchPolicy) -> HTTPSession:
    config = Config(
        ip_filter_enable=False,  # the adapters below filter, with the exact-host exception
        ip_filter_allow_loopback_ips=False,
        never_redirect=True,  # hops are followed, and checked, by _follow_redirects
        default_timeout=(policy.connect_timeout, policy.read_timeout),
        user_agent_override=USER_AGENT,
    )
    session = HTTPSession(config)
    session.trust_env = False
    session.mount("https://", _CheckedAddressAdapter(https=True, policy=policy))
    session.mount("http://", _CheckedAddressAdapter(https=False, policy=policy))
    return session


def _follow_redirects(session: HTTPSession, url: str, policy: FetchPolicy, *, verify: str | bool) -> requests.Response:
    request = _checked_request(session, url, policy)
    for hop in range(policy.max_redirects + 1):
        response = _send(session, request, policy, verify=verify)
        if not response.is_redirect:
            return response
        location = urljoin(response.url, session.get_redirect_target(response) or "")
        response.close()
        if hop == policy.max_redirects:
            break
        try:
            request = _checked_request(session, location, policy)
        except FetchError as error:
            raise FetchError("redirect_refused", f"redirect refused: {error.message}", retryable=False) from error
    too_many = f"more than {policy.max_redirects} redirects from {redact(url)}"
    raise FetchError("redirect_refused", too_many, retryable=False)


def _checked_request(session: HTTPSession, url: str, policy: FetchPolicy) -> requests.PreparedRequest:
    """The prepared GET for ``url``, refused before any connection if the URL is not allowed."""
    headers = {"Accept-Encoding": "identity", "Accept": "application/zip, application/octet-stream;q=0.9, */*;q=0.1"}
    try:
        request = session.prepare_request(requests.Request("GET", url, headers=headers))
    except (requests.RequestException, ValueError) as error:
        raise FetchError("bad_url", f"archive URL cannot be used: {type(error).__name__}", retryable=False) from error
    parts = urlsplit(request.url or "")
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise FetchError("scheme_not_allowed", f"{parts.scheme or 'no'} scheme is not allowed", retryable=False)
    if "@" in parts.netloc or not parts.hostname:
        raise FetchError("bad_url", "archive URL has credentials or no host", retryable=False)
    port = _port_or_none(parts) or _DEFAULT_PORTS[parts.scheme]
    if not host_allowed(parts.scheme, parts.hostname, port, policy.allowed_hosts)[0]:
        raise FetchError("host_not_allowed", f"{redact(request.url or '')}: host not in allowed_hosts", retryable=False)
    return request


def _send(
    session: HTTPSession, request: requests.PreparedRequest, policy: FetchPolicy, *, verify: str | bool
) -> requests.Response:
    where = redact(request.url or "")
    timeout = (policy.connect_timeout, policy.read_timeout)
    try:
        return session.send(request, stream=True, timeout=timeout, verify=verify, allow_redirects=False)
    except InvalidIPAddress as error:
        refused = f"{where}: host resolves to a refused address ({error})"
        raise FetchError("address_not_allowed", refused, retryable=False) from error
    except requests.Timeout as error:
        raise FetchError("timeout", f"{where}: timed out", retryable=True) from error
    except requests.exceptions.SSLError as error:
        raise FetchError("tls", f"{where}: TLS handshake or certificate check failed", retryable=False) from error
    except requests.ConnectionError as error:
        raise FetchError("connection", f"{where}: connection failed", retryable=True) from error
    except requests.exceptions.InvalidURL as error:
        raise FetchError("bad_url", f"{where}: invalid URL", retryable=False) from error
    except requests.RequestException as error:
        raise FetchError("connection", f"{where}: request failed ({type(error).__name__})", retryable=True) from error


def _check_response(response: requests.Response, where: str) -> None:
    status = response.status_code
    if status != 200:
        retryable = status >= 500 or status in (408, 429)
        raise FetchError("http_status", f"{where} answered HTTP {status}", retryable=retryable, status=status)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError("content_encoding", f"{where} sent Content-Encoding {encoding[:32]!r}", retryable=False)


def _ca_bundle(policy: FetchPolicy, environ: Mapping[str, str]) -> str | bool:
    """The CA bundle to verify with; ``True`` means requests' own (certifi)."""
    return policy.ca_bundle or environ.get("REQUESTS_CA_BUNDLE") or environ.get("SSL_CERT_FILE") or True


def _port_or_none(parts: Any) -> int | None:
    try:
        return parts.port
    except ValueError as error:
        raise FetchError("bad_url", "archive URL has an invalid port", retryable=False) from error
