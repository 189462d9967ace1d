"""The MessageBird Personal Data client against the simulator, over real HTTPS on loopback."""

from __future__ import annotations

import base64
import time

import pytest

from receiver.providers import MessageBirdClient, ProviderError
from receiver.providers.messagebird import Order, access_key_headers
from receiver.providers.transport import JsonTransport, RetryPolicy
from tests.support.ports import free_port
from tests.support.simulators import ACCESS_KEY

CALLBACK = "https://hooks.example.test/webhooks/messagebird/personal-data"
ORDER = Order(
    kind="KIND_PERSONAL_GET", reason="Art. 15 request", callback_url=CALLBACK, field="email", value="jane@example.org"
)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(messagebird_simulator, sleeps):
    def connect(*, base_url: str | None = None, key: str = ACCESS_KEY, timeout: float = 5, max_wait: float = 5):
        transport = JsonTransport(
            "messagebird",
            base_url or messagebird_simulator.base_url,
            access_key_headers(key),
            timeout=timeout,
            retry=RetryPolicy(max_retries=2, max_wait=max_wait),
            sleep=sleeps.append,
        )
        return MessageBirdClient(transport)

    return connect


def refusal(call, *args) -> ProviderError:
    with pytest.raises(ProviderError) as refused:
        call(*args)
    return refused.value


def test_a_created_request_returns_the_id_and_signature_key_to_keep(connect, messagebird_simulator):
    created = connect().create_request(ORDER)
    assert created.state == "STATE_SENT" and created.created_at is not None
    assert len(base64.b64decode(created.signature_key)) == 32
    stored = messagebird_simulator.requests[created.id]
    assert (stored.kind, stored.field, stored.value, stored.callback_url) == (
        "KIND_PERSONAL_GET",
        "email",
        "jane@example.org",
        CALLBACK,
    )
    [seen] = messagebird_simulator.seen
    assert seen == {
        "method": "POST",
        "path": "/personaldata/requests",
        "authorization": f"AccessKey {ACCESS_KEY}",
        "accept": "application/json",
        "contentType": "application/json",
    }
    assert created.signature_key not in repr(created)


def test_a_user_request_sends_no_field_or_value(connect, messagebird_simulator):
    created = connect().create_request(Order(kind="KIND_USER_DELETE", reason="closing account", callback_url=CALLBACK))
    assert (messagebird_simulator.requests[created.id].field, messagebird_simulator.requests[created.id].value) == (
        None,
        None,
    )


def test_a_refused_access_key_is_unauthorized_with_the_documented_error(connect):
    error = refusal(connect(key="test_wrong").create_request, ORDER)
    assert (error.reason, error.status, error.code, error.parameter) == ("unauthorized", 401, 2, "access_key")
    assert error.description == "Request not allowed (incorrect access_key)"
    assert not error.retryable


def test_a_422_is_rejected_with_code_description_and_parameter(connect, messagebird_simulator):
    error = refusal(
        connect().create_request,
        Order(kind="KIND_PERSONAL_GET", reason="x", callback_url=CALLBACK, field="email", value=None),
    )
    assert (error.reason, error.status, error.code, error.parameter) == ("rejected", 422, 9, "value")
    assert messagebird_simulator.api_calls == 1


def test_a_429_is_retried_after_the_time_retry_after_asks(connect, messagebird_simulator, sleeps):
    messagebird_simulator.knobs.update({"rate_limit": 1, "retry_after": 2})
    assert connect().create_request(ORDER).id
    assert sleeps == [2.0]


def test_a_retry_after_beyond_the_wait_budget_is_not_waited_for(connect, messagebird_simulator, sleeps):
    messagebird_simulator.knobs.update({"rate_limit": 1, "retry_after": 30})
    error = refusal(connect().create_request, ORDER)
    assert (error.reason, error.retry_after, error.retryable) == ("rate_limited", 30.0, True)
    assert sleeps == []


def test_server_errors_are_retried_with_backoff_then_reported(connect, messagebird_simulator, sleeps):
    messagebird_simulator.knobs.update({"server_errors": 5})
    error = refusal(connect().list_requests)
    assert (error.reason, error.status, error.code) == ("unavailable", 500, 99)
    assert messagebird_simulator.api_calls == 3
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_a_timed_out_post_is_not_sent_again_but_a_get_is(connect, messagebird_simulator, sleeps):
    messagebird_simulator.knobs.update({"api_delay": 0.6})
    client = connect(timeout=0.2)
    assert refusal(client.create_request, ORDER).reason == "timeout"
    assert messagebird_simulator.api_calls == 1
    assert refusal(client.list_requests).reason == "timeout"
    assert messagebird_simulator.api_calls == 4


def test_a_refused_connection_is_retried_then_unavailable(connect, sleeps):
    error = refusal(connect(base_url=f"https://127.0.0.1:{free_port()}").create_request, ORDER)
    assert (error.reason, error.status, len(sleeps)) == ("unavailable", None, 2)


def test_the_listing_shows_states_and_the_archive_url_once_done(connect, messagebird_simulator):
    messagebird_simulator.knobs.update({"callback": "none", "callback_delay": 0.1})
    client = connect()
    get = client.create_request(ORDER)
    delete = client.create_request(Order(kind="KIND_USER_DELETE", reason="r", callback_url=CALLBACK))
    time.sleep(0.4)
    listed = {item.id: item for item in client.list_requests()}
    assert (listed[get.id].state, listed[delete.id].state) == ("STATE_DONE", "STATE_DONE")
    assert listed[get.id].data_archive_url.startswith(messagebird_simulator.base_url + "/archives/")
    assert listed[delete.id].data_archive_url is None
    assert listed[get.id].updated_at >= listed[get.id].created_at


def test_without_an_access_key_nothing_is_sent():
    error = refusal(MessageBirdClient(None).create_request, ORDER)
    assert error.reason == "not_configured" and "MESSAGEBIRD_ACCESS_KEY" in error.message
