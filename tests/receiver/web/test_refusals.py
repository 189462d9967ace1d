"""Refusals seen from the web: an address refused too often is limited, genuine traffic never is."""

from __future__ import annotations

import random

import pytest

from tests.receiver.conftest import CALLBACK_PATH, callback_body


@pytest.fixture
def app_env(app_env):
    return {**app_env, "REFUSAL_RATE_LIMIT": "3 per minute", "TRUSTED_PROXIES": "1"}


def an_address() -> str:
    """A fresh client address: the limiter's counts may live in the shared Redis between tests."""
    return f"203.0.{random.randrange(256)}.{random.randrange(1, 255)}"


def forged(client, address: str, request_id: str = "req-1"):
    body = callback_body(request_id, "KIND_USER_DELETE")
    return client.post(CALLBACK_PATH, data=body, content_type="application/json",
                       headers={"X-MessageBird-Signature": "t=1,v1=00", "X-Forwarded-For": address})


def test_an_address_past_its_refusals_is_answered_429_before_its_delivery_is_read(register, client):
    register("req-1", "KIND_USER_DELETE")
    address = an_address()
    statuses = [forged(client, address).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    limited = forged(client, address)
    assert limited.headers["Retry-After"].isdigit()
    assert limited.json["errors"][0]["description"] == "Too many refused deliveries from this address"
    assert forged(client, an_address()).status_code == 401  # another address is not affected


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
