"""The SSRF-safe archive download, against a real loopback HTTPS server with a trustme CA.

Names other than ``localhost`` resolve through ``fake_dns`` (a stand-in for DNS that
answers what the test says), and ``loopback_only`` makes any attempt to connect
anywhere but loopback fail the test loudly instead of leaving the machine.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from pathlib import Path

import pytest
import trustme
import urllib3.util.connection
from requests_hardened import ip_filter_adapter
from requests_hardened.ip_filter import InvalidIPAddress, filter_host

from receiver import fetching
from receiver.fetching import FetchError, FetchPolicy, classify_address, host_allowed, open_archive, redact
from storage.archives import ArchiveStream, FileArchiveStore
from tests.support import zips
from tests.support.https_server import ArchiveServer

TOKEN = "token=s3cr3t-download-token"


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``fake_dns[name] = address`` makes ``name`` resolve to ``address``."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's names
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        address = ipaddress.ip_address(answers[host])
        if address.version == 4:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (str(address), port or 0))]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (str(address), port or 0, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        resolved = {info[4][0] for info in socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM)}
        if not all(ipaddress.ip_address(ip).is_loopback for ip in resolved):
            pytest.fail(f"a connection to {address} was attempted")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)


def policy_for(server: ArchiveServer, *hosts: str, **settings) -> FetchPolicy:
    allowed = hosts or (f"127.0.0.1:{server.port}",)
    return FetchPolicy(allowed_hosts=allowed, ca_bundle=server.ca_bundle, **settings)


def download(url: str, policy: FetchPolicy) -> bytes:
    with open_archive(url, policy) as body:
        return body.read()


def refusal(url: str, policy: FetchPolicy) -> FetchError:
    with pytest.raises(FetchError) as refused:
        download(url, policy)
    assert "s3cr3t" not in str(refused.value)
    return refused.value


# --- success -------------------------------------------------------------------------------


def test_an_allowed_archive_streams_over_verified_https(https_server: ArchiveServer) -> None:
    archive = zips.zip_bytes()
    url = https_server.route("/exports/req-1.zip", archive)
    with open_archive(f"{url}?{TOKEN}", policy_for(https_server)) as body:
        assert body.content_length == len(archive)
        assert body.url == url
        assert body.read(10) + body.read() == archive
    (path, headers), = https_server.requests
    assert path == f"/exports/req-1.zip?{TOKEN}"
    assert headers["Accept-Encoding"] == "identity"


def test_a_named_host_with_its_port_is_trusted_by_name(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    localhost = https_server.url("/a.zip", host="localhost")
    assert download(localhost, policy_for(https_server, f"localhost:{https_server.port}")) == zips.zip_bytes()
    assert download(url, policy_for(https_server, f"LOCALHOST:1", f"127.0.0.1:{https_server.port}"))


def test_the_worker_composition_stores_what_was_served(https_server: ArchiveServer, tmp_path: Path) -> None:
    archive = b"".join(zips.StreamedZip(3 << 20, entry_size=1 << 20).chunks())
    url = https_server.route("/big.zip", archive)
    store = FileArchiveStore(tmp_path)
    with open_archive(url, policy_for(https_server)) as source:
        stored = store.put("messagebird/req-9.zip", ArchiveStream(source, max_bytes=8 << 20), metadata={})
    assert stored.sha256 == hashlib.sha256(archive).hexdigest()
    assert stored.size == len(archive)


def test_plain_http_only_with_the_explicit_development_setting(http_server: ArchiveServer) -> None:
    url = http_server.route("/a.zip", zips.zip_bytes())
    allowed = f"127.0.0.1:{http_server.port}"
    assert refusal(url, FetchPolicy(allowed_hosts=(allowed,))).reason == "scheme_not_allowed"
    assert http_server.connections == 0
    assert download(url, FetchPolicy(allowed_hosts=(allowed,), allow_http=True)) == zips.zip_bytes()


# --- refused before connecting -------------------------------------------------------------


def test_a_host_not_allowed_is_refused_without_a_connection(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    for allowed in (("files.example.com",), (f"127.0.0.1:{https_server.port + 1}",), ("127.0.0.1",)):
        error = refusal(f"{url}?{TOKEN}", policy_for(https_server, *allowed))
        assert (error.reason, error.retryable) == ("host_not_allowed", False)
    assert https_server.connections == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://files.example.com/a.zip", "scheme_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("https://user:pass@files.example.com/a.zip", "bad_url"),
        ("https://files.example.com:99999/a.zip", "bad_url"),
        ("not a url", "bad_url"),
        ("https:///a.zip", "bad_url"),
    ],
)
def test_unusable_urls_are_refused(url: str, reason: str) -> None:
    error = refusal(url, FetchPolicy(allowed_hosts=("files.example.com",)))
    assert (error.reason, error.retryable) == (reason, False)


# --- refused addresses ---------------------------------------------------------------------

REFUSED_ADDRESSES = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "10.1.2.3": "private",
    "172.16.5.4": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link_local",
    "fe80::1": "link_local",
    "fc00::1": "private",
    "fec0::1": "site_local",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link_local",
    "100.64.0.1": "special",
    "192.0.0.8": "special",
    "2002:7f00:1::1": "special",
    "64:ff9b::a00:1": "reserved",
}


@pytest.mark.parametrize(("address", "kind"), REFUSED_ADDRESSES.items())
def test_internal_addresses_are_classified_as_refused(address: str, kind: str) -> None:
    assert classify_address(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert classify_address(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_a_wildcard_host_resolving_to_an_internal_address_is_never_connected_to(
    https_server: ArchiveServer, fake_dns: dict[str, str], address: str
) -> None:
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["cdn.files.test"] = address
    url = https_server.url("/a.zip", host="cdn.files.test")
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server, f"*.files.test:{https_server.port}"))
    assert (error.reason, error.retryable) == ("address_not_allowed", False)
    assert https_server.connections == 0


def test_localhost_through_a_wildcard_is_refused(https_server: ArchiveServer, fake_dns: dict[str, str]) -> None:
    """A name that is allowed only by a pattern gets no loopback exception, whatever it resolves to."""
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["localhost.files.test"] = socket.gethostbyname("localhost")
    url = https_server.url("/a.zip", host="localhost.files.test")
    assert refusal(url, policy_for(https_server, f"*.files.test:{https_server.port}")).reason == "address_not_allowed"
    assert https_server.connections == 0


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1"])
def test_requests_hardened_refuses_the_address_it_resolved(fake_dns: dict[str, str], address: str) -> None:
    """The adapter's own filter: resolve once, refuse internal addresses, return the pinned IP."""
    fake_dns["pinned.files.test"] = address
    with pytest.raises(InvalidIPAddress):
        filter_host("pinned.files.test", 443, allow_loopback=False)


def test_requests_hardened_pins_the_address_it_checked(fake_dns: dict[str, str]) -> None:
    fake_dns["pinned.files.test"] = "93.184.215.14"
    assert filter_host("pinned.files.test", 443, allow_loopback=False) == "93.184.215.14"


@pytest.fixture
def loopback_counts_as_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the filtered path reach the loopback server, to watch what it does once connected."""
    monkeypatch.setattr(fetching, "classify_address", lambda address: None)
    monkeypatch.setattr(ip_filter_adapter, "filter_host", lambda host, port, **_: filter_host(host, port, allow_loopback=True))


@pytest.mark.usefixtures("loopback_counts_as_public")
def test_the_filtered_path_checks_the_certificate_against_the_hostname(
    https_server: ArchiveServer, fake_dns: dict[str, str]
) -> None:
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["cdn.files.test"] = fake_dns["cdn.elsewhere.test"] = "127.0.0.1"
    policy = policy_for(https_server, f"*.files.test:{https_server.port}", f"*.elsewhere.test:{https_server.port}")
    assert download(https_server.url("/a.zip", host="cdn.files.test"), policy) == zips.zip_bytes()
    assert refusal(https_server.url("/a.zip", host="cdn.elsewhere.test"), policy).reason == "tls"


@pytest.mark.usefixtures("loopback_counts_as_public")
def test_the_filtered_path_connects_to_the_address_it_checked(
    https_server: ArchiveServer, fake_dns: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: whatever the name resolves to later, the connection goes where the check looked."""
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["cdn.files.test"] = "127.0.0.1"
    checked = ip_filter_adapter.filter_host

    def then_rebind(*args, **kwargs):  # type: ignore[no-untyped-def]
        address = checked(*args, **kwargs)
        fake_dns["cdn.files.test"] = "10.0.0.1"
        return address

    monkeypatch.setattr(ip_filter_adapter, "filter_host", then_rebind)
    url = https_server.url("/a.zip", host="cdn.files.test")
    assert download(url, policy_for(https_server, f"*.files.test:{https_server.port}")) == zips.zip_bytes()
    assert https_server.requests[0][1]["Host"] == f"cdn.files.test:{https_server.port}"


# --- redirects -----------------------------------------------------------------------------


def test_a_redirect_within_the_allowed_hosts_is_followed(https_server: ArchiveServer) -> None:
    https_server.route("/final.zip", zips.zip_bytes())
    url = https_server.route("/start", statuses=[302], location="/final.zip")
    assert download(url, policy_for(https_server)) == zips.zip_bytes()


@pytest.mark.parametrize(
    "location",
    ["https://evil.example.com/a.zip", "https://localhost:{port}/a.zip", "http://127.0.0.1:{port}/a.zip", "ftp://x/a"],
)
def test_a_redirect_outside_the_policy_is_refused_before_following(https_server: ArchiveServer, location: str) -> None:
    https_server.route("/a.zip", zips.zip_bytes())
    url = https_server.route("/start", statuses=[302], location=location.format(port=https_server.port))
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server))
    assert (error.reason, error.retryable) == ("redirect_refused", False)
    assert [path for path, _ in https_server.requests] == [f"/start?{TOKEN}"]


def test_a_redirect_to_an_internal_address_is_refused(https_server: ArchiveServer, fake_dns: dict[str, str]) -> None:
    fake_dns["metadata.files.test"] = "169.254.169.254"
    url = https_server.route("/start", statuses=[307], location=f"https://metadata.files.test:{https_server.port}/")
    policy = policy_for(https_server, f"127.0.0.1:{https_server.port}", f"*.files.test:{https_server.port}")
    assert refusal(url, policy).reason == "address_not_allowed"


def test_redirects_are_limited(https_server: ArchiveServer) -> None:
    url = https_server.route("/loop", statuses=[302], location="/loop")
    error = refusal(url, policy_for(https_server, max_redirects=2))
    assert error.reason == "redirect_refused"
    assert len(https_server.requests) == 3


# --- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (408, True), (429, True), (404, False), (403, False), (410, False), (204, False)],
)
def test_http_errors_say_whether_a_retry_may_help(https_server: ArchiveServer, status: int, retryable: bool) -> None:
    url = https_server.route("/a.zip", statuses=[status])
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server))
    assert (error.reason, error.status, error.retryable) == ("http_status", status, retryable)


def test_a_retry_after_a_server_error_can_succeed(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes(), statuses=[503, 200])
    assert refusal(url, policy_for(https_server)).retryable
    assert download(url, policy_for(https_server)) == zips.zip_bytes()


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip"])
def test_an_encoded_body_is_refused(https_server: ArchiveServer, encoding: str) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes(), headers={"Content-Encoding": encoding})
    error = refusal(url, policy_for(https_server))
    assert (error.reason, error.retryable) == ("content_encoding", False)


def test_identity_encoding_is_accepted(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes(), headers={"Content-Encoding": "identity"})
    assert download(url, policy_for(https_server)) == zips.zip_bytes()


# --- time and broken connections -----------------------------------------------------------


def test_a_server_slow_to_answer_times_out(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes(), delay=1.0)
    error = refusal(url, policy_for(https_server, read_timeout=0.3))
    assert (error.reason, error.retryable) == ("timeout", True)


def test_a_body_that_stalls_times_out_while_reading(https_server: ArchiveServer) -> None:
    archive = zips.zip_bytes({"big.bin": zips.not_a_zip(200_000)})
    url = https_server.route("/a.zip", archive, stall_after=50_000, stall=1.0)
    with open_archive(f"{url}?{TOKEN}", policy_for(https_server, read_timeout=0.3)) as body:
        with pytest.raises(FetchError) as stalled:
            while body.read(16_384):
                pass
    assert (stalled.value.reason, stalled.value.retryable) == ("timeout", True)
    assert "s3cr3t" not in str(stalled.value)


def test_a_body_cut_short_is_a_retryable_connection_error(https_server: ArchiveServer) -> None:
    archive = zips.zip_bytes({"big.bin": zips.not_a_zip(100_000)})
    url = https_server.route("/a.zip", archive, cut_after=30_000)
    with open_archive(url, policy_for(https_server)) as body:
        stream = ArchiveStream(body, max_bytes=1 << 20)
        with pytest.raises(FetchError) as cut:
            stream.read(1 << 20)
    assert (cut.value.reason, cut.value.retryable) == ("connection", True)


def test_nothing_listening_is_a_retryable_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = refusal(f"https://127.0.0.1:{port}/a.zip", FetchPolicy(allowed_hosts=(f"127.0.0.1:{port}",)))
    assert (error.reason, error.retryable) == ("connection", True)


def test_an_untrusted_certificate_is_refused(https_server: ArchiveServer, tmp_path: Path) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    policy = FetchPolicy(allowed_hosts=(f"127.0.0.1:{https_server.port}",), ca_bundle=str(other_ca))
    assert (refusal(url, policy).reason, refusal(url, policy).retryable) == ("tls", False)


def test_the_ca_bundle_comes_from_the_standard_environment_when_not_set(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    policy = FetchPolicy(allowed_hosts=(f"127.0.0.1:{https_server.port}",))
    with open_archive(url, policy, environ={"SSL_CERT_FILE": https_server.ca_bundle}) as body:
        assert body.read() == zips.zip_bytes()
    with pytest.raises(FetchError):
        with open_archive(url, policy, environ={}):
            pass


# --- the pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host", "port", "patterns", "expected"),
    [
        ("https", "files.example.com", 443, ("files.example.com",), (True, True)),
        ("https", "FILES.example.com", 443, ("files.example.com",), (True, True)),
        ("https", "files.example.com", 8443, ("files.example.com",), (False, False)),
        ("https", "files.example.com", 8443, ("files.example.com:8443",), (True, True)),
        ("http", "files.example.com", 80, ("files.example.com",), (True, True)),
        ("https", "a.example.com", 443, ("*.example.com",), (True, False)),
        ("https", "a.b.example.com", 443, ("*.example.com",), (True, False)),
        ("https", "example.com", 443, ("*.example.com",), (False, False)),
        ("https", "evilexample.com", 443, ("*.example.com",), (False, False)),
        ("https", "example.com.evil.net", 443, ("example.com",), (False, False)),
        ("https", "::1", 8443, ("[::1]:8443",), (True, True)),
        ("https", "a.example.com", 443, ("*.example.com", "a.example.com"), (True, True)),
    ],
)
def test_host_patterns(scheme: str, host: str, port: int, patterns: tuple[str, ...], expected: tuple[bool, bool]) -> None:
    assert host_allowed(scheme, host, port, patterns) == expected


@pytest.mark.parametrize("pattern", ["https://files.example.com", "files.example.com/path", "*", "a*.example.com", ""])
def test_a_policy_with_a_malformed_pattern_fails_at_start_up(pattern: str) -> None:
    with pytest.raises(ValueError):
        FetchPolicy(allowed_hosts=(pattern,))


def test_redaction_keeps_scheme_host_and_path_only() -> None:
    assert redact(f"https://user:pw@Files.Example.com:8443/a/b.zip?{TOKEN}#frag") == "https://files.example.com:8443/a/b.zip"


def test_fetch_errors_carry_their_reason() -> None:
    error = FetchError("timeout", "slow", retryable=True)
    assert (error.reason, error.message, error.retryable, error.status, str(error)) == ("timeout", "slow", True, None, "slow")

