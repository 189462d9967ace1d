"""The provider simulators on loopback, and the service served for them to call back (pytest plugin).

- ``messagebird_simulator``: ``simulators.messagebird`` over HTTPS with a fresh trustme CA,
  which ``REQUESTS_CA_BUNDLE`` names for the test (the clients and the archive download
  trust it the way production trusts a private CA); the account signing key is the
  ``messagebird_signing_key`` the app verifies with.
- ``voodoosms_simulator``: ``simulators.voodoosms`` over plain HTTP.
- ``provider_settings``: the settings that point the app at both, with short intervals and
  a ``PUBLIC_URL`` on a free loopback port, where ``live_service`` serves the app so that
  callbacks arrive over real HTTP. Merge them into ``app_env`` in a conftest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from receiver.services import Services
from simulators import messagebird, voodoosms
from simulators.serving import Server
from tests.support.ports import free_port

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
def provider_settings(
    messagebird_simulator: messagebird.MessageBirdSimulator, voodoosms_simulator: voodoosms.VoodooSmsSimulator
) -> dict[str, str]:
    """Settings that point the service at both simulators; merge them into ``app_env``.

    ``PUBLIC_URL`` names a free loopback port, where ``live_service`` serves the app.
    """
    return {
        "PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        "MESSAGEBIRD_ACCESS_KEY": ACCESS_KEY,
        "MESSAGEBIRD_API_URL": messagebird_simulator.base_url,
        "VOODOOSMS_API_KEY": VOODOOSMS_API_KEY,
        "VOODOOSMS_API_URL": voodoosms_simulator.base_url,
        "ARCHIVE_ALLOWED_HOSTS": messagebird_simulator.base_url.removeprefix("https://"),
        "ARCHIVE_PRIVATE_HOSTS": messagebird_simulator.base_url.removeprefix("https://"),  # it runs on loopback
        "PROVIDER_TIMEOUT_SECONDS": "5",
        "PROVIDER_RETRY_MAX_WAIT_SECONDS": "3",
        "CALLBACK_GRACE_SECONDS": "60",
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
def live_service(app: Flask) -> Iterator[LiveService]:
    """The app served on its ``PUBLIC_URL``'s loopback port (``app_env`` must hold ``provider_settings``)."""
    base_url = app.extensions["services"].settings.public_url
    server = Server(app, port=int(base_url.rsplit(":", 1)[1])).start()
    yield LiveService(base_url, app)
    server.close()


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
