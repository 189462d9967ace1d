"""A time-stamping authority on loopback: plain HTTP in front of ``openssl ts -reply`` (pytest plugin).

At session start it makes a test CA and a TSA certificate signed by it (``cryptography``;
the TSA's carries the critical ``timeStamping`` extended key usage RFC 3161 requires)
and an ``openssl.cnf`` with a ``tsa`` section. Each POST of an RFC 3161 request
(``application/timestamp-query``) is answered by ``openssl ts -reply`` run on it, as a
real TSA would: a signed ``TimeStampResp`` with the signer's certificate in it.

``tsa.ca_file`` is what replies verify against (``AUDIT_TSA_CA_FILE``); ``tsa.url`` the
address (``AUDIT_TSA_URL``, with ``AUDIT_TSA_ALLOW_HTTP`` and ``127.0.0.1`` in
``AUDIT_TSA_PRIVATE_HOSTS``). A test can make it answer 503 (``tsa.down()``) or hold
every answer until released (``tsa.frozen()``); ``tsa`` resets both for each test.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {directory}
serial = $dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


class OpensslTsa:
    """The TSA: its files, its HTTP server, and its switches."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("Test TSA Root", ca_key, "Test TSA Root", ca_key, ca=True)
        signer = _certificate("Test TSA", tsa_key, "Test TSA Root", ca_key, ca=False)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (directory / "tsa.pem").write_bytes(signer.public_bytes(serialization.Encoding.PEM))
        (directory / "tsa.key").write_bytes(
            tsa_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (directory / "serial").write_text("01\n")
        (directory / "openssl.cnf").write_text(_CONFIG.format(directory=directory))
        self.requests = 0
        self._status = 200
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsr"

    def reply(self, query: bytes) -> bytes:
        """What ``openssl ts -reply`` answers to ``query`` (one at a time: it keeps a serial file)."""
        with self._lock, tempfile.TemporaryDirectory() as scratch:
            query_file, reply_file = Path(scratch) / "query.tsq", Path(scratch) / "reply.tsr"
            query_file.write_bytes(query)
            subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(self.directory / "openssl.cnf"),
                    "-queryfile",
                    str(query_file),
                    "-inkey",
                    str(self.directory / "tsa.key"),
                    "-signer",
                    str(self.directory / "tsa.pem"),
                    "-out",
                    str(reply_file),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            return reply_file.read_bytes()

    def down(self, status: int = 503) -> None:
        self._status = status

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Hold every answer until the block ends."""
        self._released.clear()
        try:
            yield
        finally:
            self._released.set()

    def reset(self) -> None:
        self._status, self.requests = 200, 0
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                tsa.requests += 1
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                tsa._released.wait(timeout=60)
                if tsa._status != 200:
                    self._answer(tsa._status, b"", "text/plain")
                    return
                self._answer(200, tsa.reply(query), "application/timestamp-reply")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture(scope="session")
def tsa_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpensslTsa]:
    tsa = OpensslTsa(tmp_path_factory.mktemp("tsa"))
    yield tsa
    tsa.close()


@pytest.fixture
def tsa(tsa_session: OpensslTsa) -> Iterator[OpensslTsa]:
    tsa_session.reset()
    yield tsa_session
    tsa_session.reset()
