"""Refusals seen from the web: an address refused too often is limited, genuine traffic never is."""

from __future__ import annotations

import random

import pytest
from prometheus_client import REGISTRY

from tests.receiver.conftest import CALLBACK_PATH, callback_body


@pytest.fixture
def app_env(app_env):
    return {**app_env, "REFUSAL_RATE_LIMIT": "3 per minute", "TRUSTED_PROXIES": "1"}


def an_address() -> str:
    """A fresh client address: the limiter's counts may live in the shared Redis between tests."""
    return f"203.0.{random.randrange(256)}.{random.randrange(1, 255)}"


def forged(client, address: str, request_id: str = "req-1"):
    body = callback_body(request_id, "KIND_USER_DELETE")
    return client.post(
        CALLBACK_PATH,
        data=body,
        content_type="application/json",
        headers={"X-MessageBird-Signature": "t=1,v1=00", "X-Forwarded-For": address},
    )


def test_an_address_past_its_refusals_is_answered_429_before_its_delivery_is_read(register, client):
    register("req-1", "KIND_USER_DELETE")
    address = an_address()
    statuses = [forged(client, address).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    limited = forged(client, address)
    assert limited.headers["Retry-After"].isdigit()
    assert limited.json["errors"][0]["description"] == "Too many refused deliveries from this address"
    assert forged(client, an_address()).status_code == 401  # another address is not affected


def test_each_delivery_is_counted_once_the_one_that_crosses_the_limit_under_its_reason(register, client):
    register("req-1", "KIND_USER_DELETE")
    address = an_address()

    def counted(reason: str) -> float:
        labels = {"verdict": "rejected", "reason": reason}
        return REGISTRY.get_sample_value("receiver_callbacks_total", labels) or 0.0

    before = {reason: counted(reason) for reason in ("hmac_bad_signature", "rate_limited")}
    assert [forged(client, address).status_code for _ in range(5)] == [401, 401, 401, 429, 429]
    after = {reason: counted(reason) for reason in before}
    assert after["hmac_bad_signature"] - before["hmac_bad_signature"] == 4
    assert after["rate_limited"] - before["rate_limited"] == 1  # the filter's answer only


def test_genuine_deliveries_are_never_counted(register, deliver, client):
    address = an_address()
    for n in range(6):
        register(f"req-{n}", "KIND_USER_DELETE")
        response = deliver(callback_body(f"req-{n}", "KIND_USER_DELETE"), headers={"X-Forwarded-For": address})
        assert response.status_code == 200


def test_the_sampled_refusals_are_readable_by_ops(register, client, admin_headers):
    register("req-1", "KIND_USER_DELETE")
    address = an_address()
    forged(client, address)
    [sample] = client.get("/api/deliveries/refused", headers=admin_headers).json["refused"]
    assert (sample["status"], sample["reason"], sample["remoteAddr"]) == (401, "hmac_bad_signature", address)
    assert len(sample["bodySha256"]) == 64
    assert client.get("/api/deliveries/refused").status_code == 401
    assert client.get("/api/deliveries/refused?limit=0", headers=admin_headers).status_code == 400


def test_a_limited_address_is_then_answered_429_in_front_of_the_app(register, client):
    register("req-1", "KIND_USER_DELETE")
    address = an_address()
    answers = [forged(client, address) for _ in range(5)]
    first_limited, remembered = answers[3], answers[4]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert "X-Request-Id" in first_limited.headers  # Flask-Limiter decided, in the app
    assert "X-Request-Id" not in remembered.headers  # the filter answered: the app never saw it
    assert remembered.json == first_limited.json
    assert 1 <= int(remembered.headers["Retry-After"]) <= 60


class TestLimitedAddresses:
    """The filter in front of the app, on a clock of its own."""

    @staticmethod
    def filtered(now: list[float]):
        from receiver.web.refusals import LimitedAddresses

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"the app"]

        return LimitedAddresses(app, clock=lambda: now[0])

    @staticmethod
    def call(filtered, address: str, path: str = CALLBACK_PATH) -> tuple[str, dict[str, str], bytes]:
        seen = {}

        def start_response(status, headers):
            seen.update(status=status, headers=dict(headers))

        body = b"".join(filtered({"REMOTE_ADDR": address, "PATH_INFO": path}, start_response))
        return seen["status"], seen["headers"], body

    def test_it_answers_a_blocked_address_until_the_window_ends(self):
        now = [1000.0]
        filtered = self.filtered(now)
        filtered.block("203.0.113.9", 1030.0)
        status, headers, body = self.call(filtered, "203.0.113.9")
        assert (status, headers["Retry-After"]) == ("429 TOO MANY REQUESTS", "30")
        assert b"Too many refused deliveries" in body and headers["Content-Length"] == str(len(body))
        assert self.call(filtered, "203.0.113.10")[2] == b"the app"  # another address
        assert self.call(filtered, "203.0.113.9", "/healthz")[2] == b"the app"  # another path
        now[0] = 1030.0
        assert self.call(filtered, "203.0.113.9")[2] == b"the app"  # the window ended

    def test_it_remembers_a_bounded_number_of_addresses(self):
        now = [1000.0]
        filtered = self.filtered(now)
        for n in range(filtered.MAX_ADDRESSES):
            filtered.block(f"10.0.{n // 256}.{n % 256}", 1000.0 + (n % 2) * 60)  # half of them already expired
        filtered.block("203.0.113.9", 1060.0)
        assert self.call(filtered, "203.0.113.9")[0].startswith("429")
        assert self.call(filtered, "10.0.0.1")[0].startswith("429")  # still blocked, kept
        assert self.call(filtered, "10.0.0.0")[2] == b"the app"
