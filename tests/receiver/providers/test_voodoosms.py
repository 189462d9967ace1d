"""The VoodooSMS GDPR Forget client against the simulator, over real HTTP on loopback."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from receiver.providers import ProviderError, VoodooSmsClient
from receiver.providers.transport import JsonTransport, RetryPolicy
from receiver.providers.voodoosms import bearer_headers
from tests.support.simulators import VOODOOSMS_API_KEY

NUMBER = 447700900123


@pytest.fixture
def connect(voodoosms_simulator):
    def connect(*, key: str = VOODOOSMS_API_KEY) -> VoodooSmsClient:
        transport = JsonTransport(
            "voodoosms",
            voodoosms_simulator.base_url,
            bearer_headers(key),
            timeout=5,
            retry=RetryPolicy(max_retries=2, max_wait=5),
            sleep=lambda _s: None,
        )
        return VoodooSmsClient(transport)

    return connect


def refusal(call, *args, **kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as refused:
        call(*args, **kwargs)
    return refused.value


def test_a_forget_request_returns_its_reference_and_submission_time(connect, voodoosms_simulator):
    accepted = connect().forget(NUMBER, blacklist=True)
    [stored] = voodoosms_simulator.requests.values()
    assert (accepted.reference, stored.number, stored.blacklist) == (stored.reference, str(NUMBER), True)
    assert accepted.created_at == stored.created_at.replace(microsecond=0)
    [seen] = voodoosms_simulator.seen
    assert (seen["method"], seen["path"], seen["authorization"]) == (
        "POST",
        "/gdpr/forget",
        f"Bearer {VOODOOSMS_API_KEY}",
    )


def test_error_76_is_a_rejection_with_the_documented_text(connect, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"unaffiliated": str(NUMBER)})
    error = refusal(connect().forget, NUMBER)
    assert (error.reason, error.code, error.description, error.retryable) == (
        "rejected",
        76,
        "Cannot use this number",
        False,
    )


def test_the_status_is_pending_then_removed(connect, voodoosms_simulator):
    client = connect()
    accepted = client.forget(NUMBER)
    first = client.status(submitted_at=accepted.created_at, reference=accepted.reference)
    assert (first.removed, first.message) == (False, "Your request has been accepted and is pending removal")
    time.sleep(0.6)
    second = client.status(submitted_at=accepted.created_at, reference=accepted.reference)
    assert (second.removed, second.message, second.reference) == (
        True,
        "The number has been removed",
        accepted.reference,
    )
    assert [s["method"] for s in voodoosms_simulator.seen] == ["POST", "POST", "POST"]


def test_the_status_falls_back_to_get_once_and_remembers_it(connect, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"status_methods": "GET", "removal_delay": 0})
    client = connect()
    accepted = client.forget(NUMBER)
    assert client.status(submitted_at=accepted.created_at, reference=accepted.reference).removed
    assert client.status(submitted_at=accepted.created_at, reference=accepted.reference).removed
    assert [(s["method"], s["path"]) for s in voodoosms_simulator.seen[1:]] == [
        ("POST", "/gdpr/status"),
        ("GET", "/gdpr/status"),
        ("GET", "/gdpr/status"),
    ]


@pytest.mark.parametrize(
    ("outcome", "code", "text"), [("no_records", 77, "No records found"), ("failed", 78, "Request failed")]
)
def test_errors_77_and_78_carry_their_code_and_text(connect, voodoosms_simulator, outcome, code, text):
    voodoosms_simulator.knobs.update({"outcome": outcome})
    client = connect()
    accepted = client.forget(NUMBER)
    error = refusal(client.status, submitted_at=accepted.created_at, reference=accepted.reference)
    assert (error.reason, error.code, error.description) == ("rejected", code, text)


def test_an_unknown_reference_is_error_77(connect):
    error = refusal(connect().status, submitted_at=dt.datetime.now(dt.UTC), reference="NoSuchReference")
    assert error.code == 77


def test_a_refused_key_is_unauthorized(connect):
    assert refusal(connect(key="wrong").forget, NUMBER).reason == "unauthorized"


def test_rate_limits_and_server_errors_are_retried(connect, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"rate_limit": 1, "server_errors": 1})
    assert connect().forget(NUMBER).reference
    assert voodoosms_simulator.api_calls == 3


def test_without_an_api_key_nothing_is_sent():
    assert refusal(VoodooSmsClient(None).forget, NUMBER).reason == "not_configured"
