"""Hostile input through the real HTTP server: malformed HTTP, hostile JSON, slow clients.

Whatever arrives, the answer is never a 500 and never later than the timeout; a client
that stalls part-way through its request holds one thread for at most the read
timeout (``WEB_READ_TIMEOUT``) while everyone else is answered at once.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.db import Database
from storage.models import Callback
from tests.conftest import PUBLIC_URL
from tests.faults.conftest import address, report_line
from tests.support.databases import pooled_schema
from tests.support.load import (
    CALLBACK_PATH,
    DELETE_KIND,
    CallbackSigner,
    callback_json,
    fire,
    get_request,
    register_requests,
)
from tests.support.processes import Launcher
from verification.testing import sign_hmac, sign_jwt

pytestmark = [pytest.mark.slow, pytest.mark.timing]

TIMEOUT = 10.0  # no answer may take longer
READ_TIMEOUT = 2  # WEB_READ_TIMEOUT for this server: how long a stalled client may hold a thread


@dataclass
class Target:
    host: str
    port: int
    signer: CallbackSigner
    known: str  # a registered request id
    statuses: Counter[int | None] = field(default_factory=Counter)  # every answer of the module


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, sqlite_template, tmp_path_factory):
    """One gunicorn (2 workers) per backend for the whole module, with one registered request."""
    workdir = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'receiver.db'}"
        (workdir / "receiver.db").write_bytes(sqlite_template.read_bytes())
    else:
        database_url = request.getfixturevalue("postgres_url_for_module")
    signer = CallbackSigner(PUBLIC_URL, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    (workdir / "archives").mkdir()
    env = {
        "PUBLIC_URL": PUBLIC_URL,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ADMIN_TOKEN": secrets.token_urlsafe(24),
        "MESSAGEBIRD_SIGNING_KEY": signer.signing_key,
        "DATABASE_URL": database_url,
        "ARCHIVE_STORE_URL": f"file://{workdir / 'archives'}",
        "WEB_READ_TIMEOUT": str(READ_TIMEOUT),
    }
    register_requests(
        database_url, secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds={"known-1": DELETE_KIND}
    )
    launcher = Launcher(workdir)
    try:
        web = launcher.start_web(env, workers=2)
        host, port = address(web)
        target = Target(host, port, signer, "known-1")
        yield target
        web.stop()
        check_records(f"{request.node.nodeid}[{request.param}]", database_url, target)
        assert '"status": 500' not in web.log(), "the server logged a 500"
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def postgres_url_for_module(postgres_available, schema_pool):
    """A migrated, empty schema for the module's server (``postgres_url`` is per test)."""
    with pooled_schema(postgres_available, schema_pool) as url:
        yield url


def check_records(nodeid: str, database_url: str, target: Target) -> None:
    """What the module's hostile traffic left: a row for every 200, ``known-1`` accepted once at most, and
    no row for any refusal (refused deliveries keep only a bounded sample)."""
    database = Database(database_url)
    with database.transaction() as session:
        verdicts = Counter(session.scalars(select(Callback.verdict)))
    database.dispose()
    records = verdicts["accepted"] + verdicts["duplicate"]
    line = (
        f"sent={sum(target.statuses.values())} 200s={target.statuses[200]} records={records} "
        f"accepted={verdicts['accepted']} rejected_rows={verdicts['rejected']} archives=0 "
        f"statuses={dict(sorted(target.statuses.items(), key=str))}"
    )
    report_line(nodeid, line)
    assert records == target.statuses[200] and verdicts["accepted"] <= 1 and verdicts["rejected"] == 0, line
    assert not any(status is not None and status >= 500 for status in target.statuses), line


def exchange(target: Target, raw: bytes, *, half_close: bool = False) -> tuple[int | None, float]:
    """Send raw bytes; the status of the answer (None: closed without one) and how long it took."""
    status, seconds = _exchange(target, raw, half_close)
    target.statuses[status] += 1
    return status, seconds


def _exchange(target: Target, raw: bytes, half_close: bool) -> tuple[int | None, float]:
    started = time.monotonic()
    with socket.create_connection((target.host, target.port), timeout=TIMEOUT) as connection:
        try:
            connection.sendall(raw)
            if half_close:
                connection.shutdown(socket.SHUT_WR)
            answer = b""
            while b"\r\n" not in answer and (chunk := connection.recv(4096)):
                answer += chunk
        except ConnectionResetError:
            return None, time.monotonic() - started
        except TimeoutError:
            pytest.fail(f"no answer within {TIMEOUT} s to {raw[:120]!r}")
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None
    return status, time.monotonic() - started


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    path: str = CALLBACK_PATH,
    content_length: str | None = None,
    raw_headers: tuple[bytes, ...] = (),
) -> bytes:
    """A POST; ``content_length=""`` leaves the header out, ``raw_headers`` are added as they are."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {target.host}", "Connection: close"]
    merged = {"Content-Type": "application/json", **(headers or {})}
    lines += [f"{name}: {value}" for name, value in merged.items()]
    if content_length != "":
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    head = b"\r\n".join([line.encode("latin-1") for line in lines] + list(raw_headers))
    return head + b"\r\n\r\n" + body


def signed(target: Target, body: bytes) -> dict[str, str]:
    now = time.time()
    return {
        "MessageBird-Signature-JWT": sign_jwt(target.signer.signing_key, target.signer.url, body, now),
        "X-MessageBird-Signature": sign_hmac(target.signer.signature_key, body, int(now)),
    }


def nest(depth: int) -> bytes:
    return b'{"requestId": "known-1", "requestKind": "KIND_USER_DELETE", "x": ' + b"[" * depth + b"]" * depth + b"}"


def corpus(target: Target) -> dict[str, tuple[bytes, bool]]:
    """Named hostile requests: (raw bytes, whether to half-close after sending)."""
    known = target.known
    bodies = {
        "nesting bomb": b"[" * 30000 + b"]" * 30000,
        "nesting bomb in a callback": nest(30000),
        "nesting bomb, signed": None,
        "invalid UTF-8": b'{"requestId": "\xff\xfe\xfd", "requestKind": "KIND_USER_DELETE"}',
        "lone surrogate in requestId": b'{"requestId": "\\ud800", "requestKind": "KIND_USER_DELETE"}',
        "lone surrogate in result, signed": None,
        "NUL in requestId": b'{"requestId": "known-1\\u0000", "requestKind": "KIND_USER_DELETE"}',
        "NUL in result, signed": None,
        "4300+ digit integer": b'{"requestId": ' + b"9" * 5000 + b"}",
        "1e999999": b'{"requestId": 1e999999, "requestKind": "K"}',
        "NaN": b'{"requestId": NaN, "requestKind": "K"}',
        "60 KB requestId": json.dumps({"requestId": "r" * 60000, "requestKind": "KIND_USER_DELETE"}).encode(),
        "UTF-16 JSON": json.dumps({"requestId": known, "requestKind": DELETE_KIND}).encode("utf-16"),
        "empty": b"",
        "null": b"null",
        "array": b"[]",
        "requestId object": b'{"requestId": {"$ne": null}, "requestKind": "KIND_USER_DELETE"}',
    }
    signed_bodies = {
        "nesting bomb, signed": nest(20000),
        "lone surrogate in result, signed": callback_json(known, DELETE_KIND)[:-1] + b', "result": "\\udfff"}',
        "NUL in result, signed": callback_json(known, DELETE_KIND)[:-1] + b', "result": "a\\u0000b"}',
    }
    cases = {name: (post(target, body), False) for name, body in bodies.items() if body is not None}
    cases |= {name: (post(target, body, signed(target, body)), False) for name, body in signed_bodies.items()}
    garbage_jwt = {
        "MessageBird-Signature-JWT": "e30.e30.\xff\xfe",
        "X-MessageBird-Signature": "t=99999999999999999999,v1=zz",
    }
    body = callback_json(known, DELETE_KIND)
    cases |= {
        "latin-1 garbage in both signature headers": (post(target, body, garbage_jwt), False),
        "JWT with alg none": (post(target, body, {"MessageBird-Signature-JWT": "eyJhbGciOiJub25lIn0.e30."}), False),
        "huge Content-Length": (post(target, b"{}", content_length="1000000000000"), False),
        "negative Content-Length": (post(target, b"{}", content_length="-1"), False),
        "two Content-Lengths": (post(target, b"{}", raw_headers=(b"Content-Length: 5",)), False),
        "Content-Length and chunked": (post(target, b"{}", raw_headers=(b"Transfer-Encoding: chunked",)), False),
        "bad chunk size": (
            post(target, b"zz\r\n{}\r\n0\r\n\r\n", content_length="", raw_headers=(b"Transfer-Encoding: chunked",)),
            False,
        ),
        "truncated body": (post(target, body[:10], content_length=str(len(body))), True),
        "oversized header": (post(target, body, {"X-Junk": "a" * 9000}), False),
        "300 headers": (post(target, body, {f"X-H{i}": "v" for i in range(300)}), False),
        "10 KB URL": (post(target, body, path=CALLBACK_PATH + "?" + "q" * 10000), False),
        "GET on the callback path": (get_request(CALLBACK_PATH, target.host).raw, False),
        "not HTTP": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200), True),
        "request line only": (b"POST " + CALLBACK_PATH.encode() + b" HTTP/1.1\r\n\r\n", True),
    }
    return cases


CASES = [
    "nesting bomb", "nesting bomb in a callback", "nesting bomb, signed", "invalid UTF-8",
    "lone surrogate in requestId", "lone surrogate in result, signed", "NUL in requestId", "NUL in result, signed",
    "4300+ digit integer", "1e999999", "NaN", "60 KB requestId", "UTF-16 JSON", "empty", "null", "array",
    "requestId object", "latin-1 garbage in both signature headers", "JWT with alg none", "huge Content-Length",
    "negative Content-Length", "two Content-Lengths", "Content-Length and chunked", "bad chunk size",
    "truncated body", "oversized header", "300 headers", "10 KB URL", "GET on the callback path", "not HTTP",
    "request line only",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_request_is_refused_without_a_500(target, case, record_property):
    """Invariant: every request in the corpus is answered below 500 (or closed) within the timeout."""
    raw, half_close = corpus(target)[case]
    status, seconds = exchange(target, raw, half_close=half_close)
    record_property("status", status)
    assert status is None or status < 500, f"{case}: {status} after {seconds:.2f} s"
    assert seconds < TIMEOUT


header_names = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40)
header_values = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1"))


def containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    containers,
    max_leaves=30,
)
bodies = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"requestId": json_values | st.just("known-1"), "requestKind": json_values | st.just(DELETE_KIND)},
        optional={"result": json_values, "data": json_values},
    ).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    headers=st.dictionaries(header_names, header_values, max_size=8),
    sign=st.booleans(),
    truncate=st.integers(min_value=0, max_value=3),
)
def test_generated_requests_are_never_answered_500(target, body, headers, sign, truncate):
    """Invariant: random headers and bodies, signed or not, whole or cut short: never a 500, never a hang."""
    sent_headers = {**headers, **(signed(target, body) if sign else {})}
    length = len(body)
    if truncate and body:
        body = body[: len(body) // (truncate + 1)]
    status, _ = exchange(
        target, post(target, body, sent_headers, content_length=str(length)), half_close=len(body) != length
    )
    assert status is None or status < 500, f"{status} for {body[:200]!r} with {sent_headers}"


def open_stalled(target: Target, *, in_headers: bool) -> socket.socket:
    """A client that sends part of its request, then nothing."""
    connection = socket.create_connection((target.host, target.port), timeout=TIMEOUT)
    request = post(target, callback_json(target.known, DELETE_KIND))
    connection.sendall(request[:40] if in_headers else request[: request.index(b"\r\n\r\n") + 12])
    return connection


def test_stalled_clients_do_not_keep_others_waiting(target, record_property):
    """Invariant: three clients stalled mid-request (two in the body, one in the headers) hold no
    more than their own threads: others are answered at once, and each stalled client is answered
    (below 500) or closed within the read timeout, never later."""
    stalled = [
        open_stalled(target, in_headers=False),
        open_stalled(target, in_headers=False),
        open_stalled(target, in_headers=True),
    ]
    opened = time.monotonic()
    time.sleep(0.3)
    others = fire((target.host, target.port), [get_request("/healthz", target.host) for _ in range(20)], concurrency=4)
    slowest_other = max(answer.seconds for answer in others)
    outcomes = []
    for connection in stalled:
        with connection:
            answer = connection.recv(4096)
            outcomes.append((int(answer.split(b" ", 2)[1]) if answer else None, round(time.monotonic() - opened, 2)))
    record_property("slowest_other_seconds", round(slowest_other, 3))
    record_property("stalled_outcomes", outcomes)
    print(f"counts: others=20 slowest_other_s={slowest_other:.3f} stalled (status, seconds)={outcomes}")
    assert [answer.status for answer in others] == [200] * 20, outcomes
    assert slowest_other < 1.0, f"others waited {slowest_other:.2f} s behind stalled clients"
    assert all(status is None or status < 500 for status, _ in outcomes), outcomes
    assert all(seconds < READ_TIMEOUT + 3 for _, seconds in outcomes), outcomes
