"""The SSRF-safe download of a personal-data archive from the URL a callback carried.

The URL comes from a third party, so the worker must not let it reach anything but the
processor's file hosts. ``open_archive(url, policy)``, for the first request and again for
every redirect hop:

1. accepts only ``https`` (``http`` only with ``allow_http``), refuses URLs with credentials
   and any host that matches no ``allowed_hosts`` pattern, all before any connection;
2. resolves the host once and connects to exactly that address (the hostname still used for
   SNI and the certificate), refusing loopback, private, link-local, special-purpose,
   multicast, reserved and unspecified addresses and their IPv4-mapped forms; a host that
   ``private_hosts`` names (and ``allowed_hosts`` allows) may be loopback or private;
3. ignores proxy and CA settings from the environment, asks for ``identity`` encoding and
   refuses any other ``Content-Encoding``, and verifies certificates.

Notifications go out under the same rules: ``post_checked`` (one POST, no redirect) and
``pinned_address`` (a host checked for a connection made elsewhere, such as SMTP).

Every failure is ``FetchError`` with a ``reason`` and a ``retryable`` flag. An archive URL is
a bearer secret, so a ``FetchError`` knows only the URL's origin (``describe_url``), and never
chains the HTTP library's exception, whose text holds the whole URL.

Host patterns and the rules in full: docs/archives.md.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES
from urllib3.util.connection import allowed_gai_family

from receiver.observability.redaction import describe_url
from storage.errors import ServiceError

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

USER_AGENT = "gdpr-callback-receiver/0.1 (archive download)"
NOTIFY_USER_AGENT = "gdpr-callback-receiver/0.1 (notification)"
_DEFAULT_PORTS = {"https": 443, "http": 80, "smtp": 25, "smtps": 465}
_ARCHIVE_HEADERS = {
    "Accept-Encoding": "identity",
    "Accept": "application/zip, application/octet-stream;q=0.9, */*;q=0.1",
}
_HOST_PATTERN = re.compile(r"(?P<host>\*\.[a-z0-9.-]+|[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")
_WORD = re.compile(r"[A-Za-z0-9_]{1,40}")

#: Special-purpose ranges refused beyond what ``ipaddress`` flags: ours and requests-hardened's.
_EXTRA_REFUSED = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT, often internal
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64: embeds any IPv4 address
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),  # 6to4: embeds any IPv4 address
    *EXTRA_BLOCKED_NET_RANGES,
)

#: What ``classify_address`` may answer for a host named in ``private_hosts`` and still be connected to.
PRIVATE_ADDRESS_CLASSES = frozenset({"loopback", "private", "site_local", "special"})


class FetchError(ServiceError):
    """The archive could not be downloaded; ``reason`` is a stable code for logs, metrics and reasons.

    Reasons: ``bad_url``, ``scheme_not_allowed``, ``host_not_allowed``,
    ``address_not_allowed``, ``redirect_refused``, ``http_<status>`` (``http_404``),
    ``content_encoding``, ``dns``, ``timeout``, ``connection``, ``tls``.

    ``origin`` is ``describe_url(url)``; ``detail`` is a fixed word (an address class,
    the refused hop's reason, an exception's type), anything else in it is dropped.
    The message reads ``<reason> at <origin> (<detail>)``.
    """

    def __init__(
        self, reason: str, url: str, *, retryable: bool, status: int | None = None, detail: str | None = None
    ) -> None:
        self.origin = describe_url(url)
        self.retryable = retryable
        self.status = status
        self.detail = detail if detail and _WORD.fullmatch(detail) else None
        super().__init__(reason, f"{reason} at {self.origin}" + (f" ({self.detail})" if self.detail else ""))


def host_pattern_problems(patterns: tuple[str, ...]) -> list[str]:
    """One line per pattern that is not a ``host``, ``host:port`` or ``*.domain[:port]`` pattern."""
    return [
        f"not a host or host:port pattern: {pattern!r}"
        for pattern in patterns
        if not _HOST_PATTERN.fullmatch(pattern.lower())
    ]


@dataclass(frozen=True)
class FetchPolicy:
    """Where archives may be downloaded from, and how patiently."""

    allowed_hosts: tuple[str, ...]
    #: Allowed hosts that may resolve to loopback or private addresses (tests, demos, an on-premise store).
    private_hosts: tuple[str, ...] = ()
    allow_http: bool = False
    connect_timeout: float = 10
    read_timeout: float = 60
    max_redirects: int = 3
    #: CA bundle path; ``None`` means ``REQUESTS_CA_BUNDLE``, then ``SSL_CERT_FILE``, then certifi.
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        for name in ("allowed_hosts", "private_hosts"):
            if problems := host_pattern_problems(getattr(self, name)):
                raise ValueError(f"{name}: {problems[0]}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.max_redirects < 0:
            raise ValueError("timeouts must be positive and max_redirects not negative")


class ArchiveBody:
    """The response body as a raw byte stream: ``read(n)``, empty at the end, no decoding."""

    def __init__(self, response: requests.Response) -> None:
        self._raw = response.raw
        self.origin = describe_url(response.url)  #: where the body came from (after redirects), as people may read it
        length = response.headers.get("Content-Length", "")
        self.content_length = int(length) if length.isdigit() else None

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._raw.read(size if size >= 0 else None, decode_content=False)
        except urllib3.exceptions.ReadTimeoutError:
            raise FetchError("timeout", self.origin, retryable=True) from None
        except urllib3.exceptions.HTTPError as error:
            raise FetchError("connection", self.origin, retryable=True, detail=type(error).__name__) from None


@contextmanager
def open_archive(url: str, policy: FetchPolicy, *, environ: Mapping[str, str] = os.environ) -> Iterator[ArchiveBody]:
    """Connect to the archive at ``url`` under ``policy`` and yield its body; closes it on exit."""
    with _session(policy) as session:
        response = _follow_redirects(session, url, policy, verify=_ca_bundle(policy, environ))
        try:
            _check_response(response)
            yield ArchiveBody(response)
        finally:
            response.close()


def post_checked(
    url: str, body: bytes, headers: Mapping[str, str], policy: FetchPolicy, *, environ: Mapping[str, str] = os.environ
) -> int:
    """POST ``body`` to ``url`` under ``policy``'s checks (scheme, host, the pinned address); the answer's status.

    A redirect is not followed: it is answered as its status, like any other answer
    that is not a success.
    """
    with _session(policy, user_agent=NOTIFY_USER_AGENT) as session:
        request = _checked_request(session, url, policy, method="POST", headers=headers, data=body)
        response = _send(session, request, policy, verify=_ca_bundle(policy, environ))
        response.close()
        return response.status_code


def post_for_answer(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: FetchPolicy,
    *,
    max_bytes: int,
    environ: Mapping[str, str] = os.environ,
) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` under ``policy``'s checks, as ``post_checked``; the status and the answer's body.

    A body longer than ``max_bytes`` is ``FetchError`` ``too_large``; a stall while reading
    it, ``timeout``.
    """
    with _session(policy, user_agent=NOTIFY_USER_AGENT) as session:
        request = _checked_request(session, url, policy, method="POST", headers=headers, data=body)
        response = _send(session, request, policy, verify=_ca_bundle(policy, environ))
        try:
            answer = response.raw.read(max_bytes + 1, decode_content=False)
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            raise FetchError("timeout", url, retryable=True) from None
        finally:
            response.close()
        if len(answer) > max_bytes:
            raise FetchError("too_large", url, retryable=False)
        return response.status_code, answer


def pinned_address(
    scheme: str, hostname: str, port: int, policy: FetchPolicy
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The one address ``hostname`` resolves to, if ``policy`` lets us connect to it: connect to exactly that one.

    ``FetchError`` ``dns`` when the name does not resolve, ``address_not_allowed`` (the
    address class as its detail) when the address is refused.
    """
    origin = f"{scheme}://{hostname}:{port}"
    try:
        address = resolve_once(hostname, port)
    except _NameNotResolved:
        raise FetchError("dns", origin, retryable=True) from None
    refused = _refusal(scheme, hostname, port, address, policy)
    if refused is not None:
        raise FetchError("address_not_allowed", origin, retryable=False, detail=refused)
    return address


def _refusal(
    scheme: str, hostname: str, port: int, address: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: FetchPolicy
) -> str | None:
    """Why ``address`` (what ``hostname`` resolved to) must not be connected to under ``policy``, or None."""
    refused = classify_address(address)
    may_be_private = host_matches(scheme, hostname, port, policy.private_hosts)
    if refused is not None and not (may_be_private and refused in PRIVATE_ADDRESS_CLASSES):
        return refused
    return None


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


def host_matches(scheme: str, host: str, port: int, patterns: tuple[str, ...]) -> bool:
    """Whether ``host:port`` (of a ``scheme`` URL) matches one of ``patterns``."""
    host = host.lower().strip("[]")
    for pattern in patterns:
        match = _HOST_PATTERN.fullmatch(pattern.lower())
        if match is None:
            continue
        pattern_host = match["host"].strip("[]")
        pattern_port = int(match["port"]) if match["port"] else _DEFAULT_PORTS.get(scheme)
        if pattern_port != port:
            continue
        if host.endswith(pattern_host[1:]) if pattern_host.startswith("*.") else host == pattern_host:
            return True
    return False


class _AddressRefused(requests.RequestException):
    """The host resolved to an address its policy refuses; ``args[0]`` is the address class."""


class _NameNotResolved(requests.ConnectionError):
    """The host's name did not resolve (or not in time)."""


class _PinnedAddressAdapter(HTTPAdapter):
    """Resolve the host once, check that address, connect to exactly it (every host, every hop).

    The URL keeps its hostname, so the ``Host`` header, SNI and the certificate check
    still speak of the name, while the connection goes to the address that was
    checked: a name that resolves elsewhere a moment later (DNS rebinding) changes
    nothing. The same construction as requests-hardened's ``IPFilterAdapter``, whose
    fixed filter knows no per-host exception for ``private_hosts``.
    """

    def __init__(self, *, https: bool, policy: FetchPolicy) -> None:
        super().__init__()
        self._https = https
        self._policy = policy

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname, port = host_params["host"], host_params["port"]
        request.headers = CaseInsensitiveDict(request.headers or {})  # a copy: never mutate a shared dict
        request.headers["Host"] = (f"[{hostname}]" if ":" in hostname else hostname) + (f":{port}" if port else "")
        if self._https:
            pool_kwargs["assert_hostname"] = hostname  # type: ignore[typeddict-unknown-key]  # urllib3 takes; stub lacks
            pool_kwargs["server_hostname"] = hostname  # type: ignore[typeddict-unknown-key]  # urllib3 takes; stub lacks
        host_params["host"] = self._checked_address(host_params["scheme"], hostname, port)
        return host_params, pool_kwargs

    def _checked_address(self, scheme: str, hostname: str, port: int | None) -> str:
        """The one address ``hostname`` resolves to, as urllib3 takes it, if the policy lets us connect to it."""
        address = resolve_once(hostname, port)
        refused = _refusal(scheme, hostname, port or _DEFAULT_PORTS.get(scheme, 0), address, self._policy)
        if refused is not None:
            raise _AddressRefused(refused)
        return f"[{address}]" if address.version == 6 else str(address)


def resolve_once(hostname: str, port: int | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The first address ``hostname`` resolves to (the one connected to), as requests-hardened picks it."""
    try:
        answers = socket.getaddrinfo(hostname, port, family=allowed_gai_family(), type=socket.SOCK_STREAM)
    except (socket.gaierror, TimeoutError):
        raise _NameNotResolved("name resolution failed") from None
    return ipaddress.ip_address(answers[0][4][0])


def _session(policy: FetchPolicy, *, user_agent: str = USER_AGENT) -> HTTPSession:
    config = Config(
        ip_filter_enable=False,  # the adapters below resolve, check and pin every host themselves
        ip_filter_allow_loopback_ips=False,
        never_redirect=True,  # hops are followed, and checked, by _follow_redirects
        default_timeout=(policy.connect_timeout, policy.read_timeout),
        user_agent_override=user_agent,
    )
    session = HTTPSession(config)
    session.trust_env = False
    session.mount("https://", _PinnedAddressAdapter(https=True, policy=policy))
    session.mount("http://", _PinnedAddressAdapter(https=False, policy=policy))
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
        except FetchError as refused:
            raise FetchError("redirect_refused", location, retryable=False, detail=refused.reason) from None
    raise FetchError("redirect_refused", url, retryable=False, detail="too_many_redirects")


def _checked_request(
    session: HTTPSession,
    url: str,
    policy: FetchPolicy,
    *,
    method: str = "GET",
    headers: Mapping[str, str] = _ARCHIVE_HEADERS,
    data: bytes | None = None,
) -> requests.PreparedRequest:
    """The prepared request for ``url`` (an archive's GET by default), refused before any connection if the URL is
    not allowed."""
    try:
        request = session.prepare_request(requests.Request(method, url, headers=dict(headers), data=data))
    except (requests.RequestException, ValueError) as error:
        raise FetchError("bad_url", url, retryable=False, detail=type(error).__name__) from None
    check_destination(request.url or "", policy)
    return request


def check_destination(url: str, policy: FetchPolicy) -> None:
    """Refuse, before any connection, a URL whose scheme, credentials or host ``policy`` does not allow."""
    parts = urlsplit(url)
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise FetchError("scheme_not_allowed", url, retryable=False)
    if "@" in parts.netloc or not parts.hostname:
        raise FetchError("bad_url", url, retryable=False, detail="credentials_or_no_host")
    port = _port_or_none(url) or _DEFAULT_PORTS[parts.scheme]
    if not host_matches(parts.scheme, parts.hostname, port, policy.allowed_hosts):
        raise FetchError("host_not_allowed", url, retryable=False)


def mount_pinned_adapters(session: requests.Session, policy: FetchPolicy) -> None:
    """Make ``session`` resolve, check and pin every host it connects to under ``policy`` (and trust no proxy)."""
    session.trust_env = False
    session.mount("https://", _PinnedAddressAdapter(https=True, policy=policy))
    session.mount("http://", _PinnedAddressAdapter(https=False, policy=policy))


def ca_bundle(policy: FetchPolicy, environ: Mapping[str, str] = os.environ) -> str | bool:
    """The CA bundle to verify ``policy``'s hosts with (``True``: certifi)."""
    return _ca_bundle(policy, environ)


def _send(
    session: HTTPSession, request: requests.PreparedRequest, policy: FetchPolicy, *, verify: str | bool
) -> requests.Response:
    url = request.url or ""
    timeout = (policy.connect_timeout, policy.read_timeout)
    try:
        return session.send(request, stream=True, timeout=timeout, verify=verify, allow_redirects=False)
    except requests.RequestException as error:
        raise fetch_error(error, url) from None


def fetch_error(error: requests.RequestException, url: str) -> FetchError:
    """The ``FetchError`` a failure of a request to ``url`` made through the pinned adapters stands for."""
    if isinstance(error, _AddressRefused):
        return FetchError("address_not_allowed", url, retryable=False, detail=str(error.args[0]))
    if isinstance(error, _NameNotResolved):
        return FetchError("dns", url, retryable=True)
    if isinstance(error, requests.Timeout):
        return FetchError("timeout", url, retryable=True)
    if isinstance(error, requests.exceptions.SSLError):
        return FetchError("tls", url, retryable=False)
    if isinstance(error, requests.ConnectionError):
        return FetchError("connection", url, retryable=True)
    if isinstance(error, requests.exceptions.InvalidURL):
        return FetchError("bad_url", url, retryable=False)
    return FetchError("connection", url, retryable=True, detail=type(error).__name__)


def _check_response(response: requests.Response) -> None:
    status = response.status_code
    if status != 200:
        retryable = status >= 500 or status in (408, 429)
        raise FetchError(f"http_{status}", response.url, retryable=retryable, status=status)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError("content_encoding", response.url, retryable=False)


def _ca_bundle(policy: FetchPolicy, environ: Mapping[str, str]) -> str | bool:
    """The CA bundle to verify with; ``True`` means requests' own (certifi)."""
    return policy.ca_bundle or environ.get("REQUESTS_CA_BUNDLE") or environ.get("SSL_CERT_FILE") or True


def _port_or_none(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        raise FetchError("bad_url", url, retryable=False, detail="invalid_port") from None
