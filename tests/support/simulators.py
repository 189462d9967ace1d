"""The provider simulators on loopback, and the service served for them to call back (pytest plugin).

- ``messagebird_simulator``: ``simulators.messagebird`` over HTTPS with a fresh trustme CA,
  which ``REQUESTS_CA_BUNDLE`` names for the test (the clients and the archive download
  trust it the way production trusts a private CA); the account signing key is the
  ``messagebird_signing_key`` the app verifies with.
- ``voodoosms_simulator``: ``simulators.voodoosms`` over plain HTTP.
- ``provider_env``: ``app_env`` pointed at both, with short intervals, and a ``PUBLIC_URL``
  on a reserved loopback port, where ``live_service`` serves the app for real callbacks.
- ``worker_thread``: a ``Worker`` running in the background until the test ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from receiver.services import Services
from receiver.worker import Worker
from simulators import messagebird, voodoosms
from simulators.serving import Server
from tests.support.processes import free_port

ACCESS_KEY = "test_" + "simulated0access0key"
VOODOOSMS_API_KEY = "voodoosms-" + "simulated-api-key"


@pytest.fixture
def messagebird_simulator(
    tmp_path: Path, messagebird_signing_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[messagebird.MessageBirdSimulator]:
    simulator = messagebird.MessageBirdSimulator(
        access_key=ACCESS_KEY, signing_key=messagebird_signing_key, knobs=messagebird.Knobs(callback_delay=0.2)
    )
    server = messagebird.start(simulator, ca_file=tmp_path / "messagebird-ca.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield simulator
    server.close()
    simulator.close()


@pytest.fixture
def voodoosms_simulator() -> Iterator[voodoosms.VoodooSmsSimulator]:
    simulator = voodoosms.VoodooSmsSimulator(api_key=VOODOOSMS_API_KEY, knobs=voodoosms.Knobs(removal_delay=0.5))
    server = voodoosms.start(simulator)
    yield simulator
    server.close()


@pytest.fixture
def provider_env(
    app_env: dict[str, str],
    messagebird_simulator: messagebird.MessageBirdSimulator,
    voodoosms_simulator: voodoosms.VoodooSmsSimulator,
) -> dict[str, str]:
    port = free_port()
    return {
        **app_env,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MESSAGEBIRD_ACCESS_KEY": ACCESS_KEY,
        "MESSAGEBIRD_API_URL": messagebird_simulator.base_url,
        "VOODOOSMS_API_KEY": VOODOOSMS_API_KEY,
        "VOODOOSMS_API_URL": voodoosms_simulator.base_url,
        "ARCHIVE_ALLOWED_HOSTS": messagebird_simulator.base_url.removeprefix("https://"),
        "PROVIDER_TIMEOUT_SECONDS": "5",
        "PROVIDER_RETRY_MAX_WAIT_SECONDS": "3",
        "CALLBACK_GRACE_SECONDS": "0",
        "RECONCILE_INTERVAL_SECONDS": "3600",
        "VOODOOSMS_POLL_INTERVAL_SECONDS": "1",
        "VOODOOSMS_POLL_MAX_INTERVAL_SECONDS": "1",
        "WORKER_POLL_SECONDS": "0.05",
    }


@dataclass
class LiveService:
    base_url: str
    app: Flask

    @property
    def services(self) -> Services:
        return self.app.extensions["services"]


@pytest.fixture
def live_service(app: Flask, provider_env: dict[str, str]) -> Iterator[LiveService]:
    """The app (built from ``provider_env``: override ``app_env`` with it) served on its PUBLIC_URL's port."""
    base_url = app.extensions["services"].settings.public_url
    server = Server(app, port=int(base_url.rsplit(":", 1)[1])).start()
    yield LiveService(base_url, app)
    server.close()


@pytest.fixture
def worker_thread(services: Services) -> Iterator[Worker]:
    worker = Worker(services)
    thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(timeout=15)


def eventually(check: Callable[[], object], *, timeout: float = 15, interval: float = 0.05) -> object:
    """``check()``'s first truthy result, or an ``AssertionError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)
