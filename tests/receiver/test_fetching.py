"""The SSRF-safe archive download, against a real loopback HTTPS server with a trustme CA.

Names other than ``localhost`` resolve through ``fake_dns`` (a stand-in for DNS that
answers what the test says), and ``loopback_only`` makes any attempt to connect
anywhere but loopback fail the test loudly instead of leaving the machine.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import traceback
from pathlib import Path

import pytest
import trustme
import urllib3.util.connection

from receiver.fetching import FetchError, FetchPolicy, classify_address, host_matches, open_archive, resolve_once
from storage.archives import ArchiveStream, FileArchiveStore
from tests.support import zips
from tests.support.https_server import ArchiveServer

TOKEN = "token=s3cr3t-download-token"
PATH_TOKEN = "tok-s3cr3t-path-token"


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """``fake_dns[name] = address`` makes ``name`` resolve to ``address`` (``None``: to nothing)."""
    answers: dict[str, str | None] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        if answers[host] is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
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


def policy_for(server: ArchiveServer, *hosts: str, private: tuple[str, ...] | None = None, **settings) -> FetchPolicy:
    """``hosts`` allowed (the server's ``127.0.0.1:port`` by default), and private too unless ``private`` says."""
    allowed = hosts or (f"127.0.0.1:{server.port}",)
    private_hosts = allowed if private is None else private
    return FetchPolicy(allowed_hosts=allowed, private_hosts=private_hosts, ca_bundle=server.ca_bundle, **settings)


def loopback_policy(port: int, **settings) -> FetchPolicy:
    host = f"127.0.0.1:{port}"
    return FetchPolicy(allowed_hosts=(host,), private_hosts=(host,), **settings)


def download(url: str, policy: FetchPolicy) -> bytes:
    with open_archive(url, policy) as body:
        return body.read()


def read_in_chunks(body: ArchiveStream) -> None:
    while body.read(16_384):
        pass


def refusal(url: str, policy: FetchPolicy) -> FetchError:
    """The ``FetchError`` ``url`` ends in, checked to say nothing of the URL's path or query."""
    with pytest.raises(FetchError) as refused:
        download(url, policy)
    assert_no_secret(refused.value)
    return refused.value


def assert_no_secret(error: FetchError) -> None:
    """Neither the error nor its traceback (as a log shows it, chained exceptions included) holds the path or query.

    The HTTP library's exceptions spell the whole URL out, so none may be chained to a ``FetchError``.
    """
    shown = "\n".join([str(error), repr(error), *traceback.format_exception(error)])
    assert "s3cr3t" not in shown
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


# --- success -------------------------------------------------------------------------------


def test_an_allowed_archive_streams_over_verified_https(https_server: ArchiveServer) -> None:
    archive = zips.zip_bytes()
    url = https_server.route(f"/{PATH_TOKEN}/req-1.zip", archive)
    with open_archive(f"{url}?{TOKEN}", policy_for(https_server)) as body:
        assert body.content_length == len(archive)
        assert body.origin == f"https://127.0.0.1:{https_server.port}"
        assert body.read(10) + body.read() == archive
    ((path, headers),) = https_server.requests
    assert path == f"/{PATH_TOKEN}/req-1.zip?{TOKEN}"
    assert headers["Accept-Encoding"] == "identity"


def test_a_named_host_with_its_port_is_allowed_by_name(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    localhost = https_server.url("/a.zip", host="localhost")
    assert download(localhost, policy_for(https_server, f"localhost:{https_server.port}")) == zips.zip_bytes()
    assert download(url, policy_for(https_server, "LOCALHOST:1", f"127.0.0.1:{https_server.port}"))


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
    assert refusal(url, FetchPolicy(allowed_hosts=(allowed,), private_hosts=(allowed,))).reason == "scheme_not_allowed"
    assert http_server.connections == 0
    assert download(url, loopback_policy(http_server.port, allow_http=True)) == zips.zip_bytes()


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
    "192.88.99.1": "special",
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
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server, f"*.files.test:{https_server.port}", private=()))
    assert (error.reason, error.retryable, error.detail) == ("address_not_allowed", False, REFUSED_ADDRESSES[address])
    assert https_server.connections == 0


def test_localhost_through_a_wildcard_is_refused(https_server: ArchiveServer, fake_dns: dict[str, str]) -> None:
    """A name that is allowed only by a pattern gets no loopback exception, whatever it resolves to."""
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["localhost.files.test"] = socket.gethostbyname("localhost")
    url = https_server.url("/a.zip", host="localhost.files.test")
    policy = policy_for(https_server, f"*.files.test:{https_server.port}", private=())
    assert refusal(url, policy).reason == "address_not_allowed"
    assert https_server.connections == 0


# --- every host gets the address checks; private hosts are explicit -----------------------


@pytest.mark.parametrize("name", ["archive.files.test", "localhost", "127.0.0.1"])
def test_a_host_allowed_by_its_exact_name_is_still_refused_an_internal_address(
    https_server: ArchiveServer, fake_dns: dict[str, str], name: str
) -> None:
    """Naming a host exactly in the allow-list no longer lets it reach loopback: only private_hosts does."""
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["archive.files.test"] = "127.0.0.1"
    url = https_server.url("/a.zip", host=name)
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server, f"{name}:{https_server.port}", private=()))
    assert (error.reason, error.detail, error.retryable) == ("address_not_allowed", "loopback", False)
    assert error.message == f"address_not_allowed at https://{name}:{https_server.port} (loopback)"
    assert https_server.connections == 0


def test_a_host_named_in_private_hosts_may_resolve_to_loopback(
    https_server: ArchiveServer, fake_dns: dict[str, str]
) -> None:
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["archive.files.test"] = "127.0.0.1"
    host = f"archive.files.test:{https_server.port}"
    url = https_server.url("/a.zip", host="archive.files.test")
    assert download(url, policy_for(https_server, host, private=(host,))) == zips.zip_bytes()
    assert https_server.requests[0][1]["Host"] == host


def test_private_hosts_alone_do_not_allow_a_host(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    private = (f"127.0.0.1:{https_server.port}",)
    assert refusal(url, policy_for(https_server, "files.example.com", private=private)).reason == "host_not_allowed"
    assert https_server.connections == 0


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "224.0.0.251", "0.0.0.0", "240.0.0.1"])
def test_a_private_host_is_still_refused_link_local_multicast_reserved_and_unspecified_addresses(
    https_server: ArchiveServer, fake_dns: dict[str, str], address: str
) -> None:
    fake_dns["archive.files.test"] = address
    host = f"archive.files.test:{https_server.port}"
    url = https_server.url("/a.zip", host="archive.files.test")
    error = refusal(url, policy_for(https_server, host, private=(host,)))
    assert (error.reason, error.detail) == ("address_not_allowed", REFUSED_ADDRESSES[address])
    assert https_server.connections == 0


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.1", "172.16.5.4", "fc00::1", "100.64.0.1"])
def test_a_private_host_is_connected_to_at_its_private_address(
    fake_dns: dict[str, str], monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    """An on-premise store: the connection goes to the private address checked (and is refused here)."""
    fake_dns["store.internal.test"] = address
    attempts: list[tuple[str, int]] = []

    def refuse(where, *args, **kwargs):  # type: ignore[no-untyped-def]
        attempts.append(where)
        raise ConnectionRefusedError("refused by the test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    policy = FetchPolicy(allowed_hosts=("store.internal.test",), private_hosts=("store.internal.test",))
    assert refusal(f"https://store.internal.test/{PATH_TOKEN}.zip", policy).reason == "connection"
    assert [ipaddress.ip_address(host.strip("[]")) for host, _ in attempts] == [ipaddress.ip_address(address)]
    assert attempts[0][1] == 443


def test_a_private_host_is_resolved_once_and_connected_to_at_the_address_checked(
    https_server: ArchiveServer, fake_dns: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers loopback to the check, then an internal address to anyone asking
    again; the connection goes to the address checked (``loopback_only`` fails the test otherwise)."""
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["archive.files.test"] = "127.0.0.1"
    lookups: list[str] = []
    resolve = socket.getaddrinfo

    def then_rebind(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        answer = resolve(host, *args, **kwargs)
        if host == "archive.files.test":
            lookups.append(host)
            fake_dns[host] = "10.0.0.1"
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", then_rebind)
    host = f"archive.files.test:{https_server.port}"
    url = https_server.url("/a.zip", host="archive.files.test")
    assert download(url, policy_for(https_server, host, private=(host,))) == zips.zip_bytes()
    assert lookups == ["archive.files.test"]
    assert https_server.requests[0][1]["Host"] == host


def test_the_pinned_connection_checks_the_certificate_against_the_hostname(
    https_server: ArchiveServer, fake_dns: dict[str, str]
) -> None:
    https_server.route("/a.zip", zips.zip_bytes())
    fake_dns["cdn.files.test"] = fake_dns["cdn.elsewhere.test"] = "127.0.0.1"
    hosts = (f"*.files.test:{https_server.port}", f"*.elsewhere.test:{https_server.port}")
    policy = policy_for(https_server, *hosts, private=hosts)
    assert download(https_server.url("/a.zip", host="cdn.files.test"), policy) == zips.zip_bytes()
    assert refusal(https_server.url("/a.zip", host="cdn.elsewhere.test"), policy).reason == "tls"


def test_a_name_that_does_not_resolve_is_a_retryable_dns_error(fake_dns: dict[str, str | None]) -> None:
    fake_dns["nowhere.invalid"] = None
    error = refusal(
        f"https://nowhere.invalid/{PATH_TOKEN}.zip?{TOKEN}", FetchPolicy(allowed_hosts=("nowhere.invalid",))
    )
    assert (error.reason, error.retryable, error.message) == ("dns", True, "dns at https://nowhere.invalid")


def test_resolve_once_answers_the_first_address(fake_dns: dict[str, str]) -> None:
    fake_dns["pinned.files.test"] = "93.184.215.14"
    assert resolve_once("pinned.files.test", 443) == ipaddress.ip_address("93.184.215.14")


# --- redirects -----------------------------------------------------------------------------


def test_a_redirect_within_the_allowed_hosts_is_followed(https_server: ArchiveServer) -> None:
    https_server.route("/final.zip", zips.zip_bytes())
    url = https_server.route("/start", statuses=[302], location="/final.zip")
    assert download(url, policy_for(https_server)) == zips.zip_bytes()


@pytest.mark.parametrize(
    ("location", "why", "origin"),
    [
        ("https://evil.example.com/{secret}", "host_not_allowed", "https://evil.example.com"),
        ("https://localhost:{port}/{secret}", "host_not_allowed", "https://localhost:{port}"),
        ("http://127.0.0.1:{port}/{secret}", "scheme_not_allowed", "http://127.0.0.1:{port}"),
        ("ftp://x/{secret}", "scheme_not_allowed", "ftp://x"),
    ],
)
def test_a_redirect_outside_the_policy_is_refused_before_following(
    https_server: ArchiveServer, location: str, why: str, origin: str
) -> None:
    """The refusal names the target's origin and why, never the path or query the redirect carried."""
    secret = f"{PATH_TOKEN}/a.zip?{TOKEN}"
    url = https_server.route("/start", statuses=[302], location=location.format(port=https_server.port, secret=secret))
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server))
    assert (error.reason, error.retryable, error.detail) == ("redirect_refused", False, why)
    assert error.origin == origin.format(port=https_server.port)
    assert [path for path, _ in https_server.requests] == [f"/start?{TOKEN}"]


def test_a_redirect_to_an_internal_address_is_refused(https_server: ArchiveServer, fake_dns: dict[str, str]) -> None:
    fake_dns["metadata.files.test"] = "169.254.169.254"
    url = https_server.route("/start", statuses=[307], location=f"https://metadata.files.test:{https_server.port}/")
    hosts = (f"127.0.0.1:{https_server.port}", f"*.files.test:{https_server.port}")
    assert refusal(url, policy_for(https_server, *hosts, private=hosts)).reason == "address_not_allowed"


def test_redirects_are_limited(https_server: ArchiveServer) -> None:
    url = https_server.route("/loop", statuses=[302], location="/loop")
    error = refusal(url, policy_for(https_server, max_redirects=2))
    assert error.reason == "redirect_refused"
    assert len(https_server.requests) == 3


# --- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (429, True),
        (404, False),
        (403, False),
        (410, False),
        (204, False),
    ],
)
def test_http_errors_say_whether_a_retry_may_help(https_server: ArchiveServer, status: int, retryable: bool) -> None:
    url = https_server.route(f"/{PATH_TOKEN}/a.zip", statuses=[status])
    error = refusal(f"{url}?{TOKEN}", policy_for(https_server))
    assert (error.reason, error.status, error.retryable) == (f"http_{status}", status, retryable)
    assert error.message == f"http_{status} at https://127.0.0.1:{https_server.port}"


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
    with (
        open_archive(f"{url}?{TOKEN}", policy_for(https_server, read_timeout=0.3)) as body,
        pytest.raises(FetchError) as stalled,
    ):
        read_in_chunks(body)
    assert (stalled.value.reason, stalled.value.retryable) == ("timeout", True)
    assert_no_secret(stalled.value)


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
    error = refusal(f"https://127.0.0.1:{port}/a.zip", loopback_policy(port))
    assert (error.reason, error.retryable) == ("connection", True)


def test_an_untrusted_certificate_is_refused(https_server: ArchiveServer, tmp_path: Path) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    policy = loopback_policy(https_server.port, ca_bundle=str(other_ca))
    assert (refusal(url, policy).reason, refusal(url, policy).retryable) == ("tls", False)


def test_the_ca_bundle_comes_from_the_standard_environment_when_not_set(https_server: ArchiveServer) -> None:
    url = https_server.route("/a.zip", zips.zip_bytes())
    policy = loopback_policy(https_server.port)
    with open_archive(url, policy, environ={"SSL_CERT_FILE": https_server.ca_bundle}) as body:
        assert body.read() == zips.zip_bytes()
    with pytest.raises(FetchError), open_archive(url, policy, environ={}):
        pass


# --- the pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host", "port", "patterns", "expected"),
    [
        ("https", "files.example.com", 443, ("files.example.com",), True),
        ("https", "FILES.example.com", 443, ("files.example.com",), True),
        ("https", "files.example.com", 8443, ("files.example.com",), False),
        ("https", "files.example.com", 8443, ("files.example.com:8443",), True),
        ("http", "files.example.com", 80, ("files.example.com",), True),
        ("https", "a.example.com", 443, ("*.example.com",), True),
        ("https", "a.b.example.com", 443, ("*.example.com",), True),
        ("https", "example.com", 443, ("*.example.com",), False),
        ("https", "evilexample.com", 443, ("*.example.com",), False),
        ("https", "example.com.evil.net", 443, ("example.com",), False),
        ("https", "::1", 8443, ("[::1]:8443",), True),
        ("https", "a.example.com", 443, (), False),
    ],
)
def test_host_patterns(scheme: str, host: str, port: int, patterns: tuple[str, ...], expected: bool) -> None:
    assert host_matches(scheme, host, port, patterns) is expected


@pytest.mark.parametrize("pattern", ["https://files.example.com", "files.example.com/path", "*", "a*.example.com", ""])
@pytest.mark.parametrize("field", ["allowed_hosts", "private_hosts"])
def test_a_policy_with_a_malformed_pattern_fails_at_start_up(pattern: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FetchPolicy(**{"allowed_hosts": ("files.example.com",), field: (pattern,)})


def test_fetch_errors_name_the_reason_and_the_origin_only() -> None:
    error = FetchError(
        "http_404", f"https://u:p@Files.Example.com:8443/{PATH_TOKEN}/a.zip?{TOKEN}#f", retryable=False, status=404
    )
    assert (error.reason, error.origin, error.status, error.retryable) == (
        "http_404",
        "https://files.example.com:8443",
        404,
        False,
    )
    assert str(error) == error.message == "http_404 at https://files.example.com:8443"


def test_a_fetch_error_keeps_a_detail_only_when_it_is_one_word() -> None:
    refused = FetchError("redirect_refused", "https://evil.example.com/x", retryable=False, detail="host_not_allowed")
    assert str(refused) == "redirect_refused at https://evil.example.com (host_not_allowed)"
    smuggled = FetchError("connection", "https://files.example.com", retryable=True, detail=f"/{PATH_TOKEN}?{TOKEN}")
    assert (smuggled.detail, str(smuggled)) == (None, "connection at https://files.example.com")
