"""Fixtures for driving the callback endpoint the way MessageBird does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import CALLBACK_URL
from verification.testing import MessageBirdSigner

CALLBACK_PATH = "/webhooks/messagebird/personal-data"

Deliver = Callable[..., TestResponse]


def callback_body(request_id: str, kind: str = "KIND_PERSONAL_GET", data: str | None = None, **extra: Any) -> bytes:
    document = {"requestId": request_id, "requestKind": kind, "result": "Processed", **extra}
    if data is not None:
        document["data"] = data
    return json.dumps(document).encode()


@pytest.fixture
def register(client: FlaskClient, admin_headers: dict[str, str], messagebird_signature_key: str) -> Callable[..., dict]:
    """Import a MessageBird request through the admin API; returns its record."""

    def register(request_id: str = "req-1", kind: str = "KIND_PERSONAL_GET", **fields: Any) -> dict:
        document = {"id": request_id, "signatureKey": messagebird_signature_key, "kind": kind, **fields}
        response = client.post("/api/requests/import", json=document, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json

    return register


@pytest.fixture
def deliver(client: FlaskClient, messagebird_signer: MessageBirdSigner) -> Deliver:
    """POST a body to the callback endpoint, signed with both schemes unless told otherwise.

    ``schemes`` picks the headers sent (``("jwt", "hmac")`` by default); the signer's
    switches (``expired=True``, ``wrong_key=True`` ...) break one rule.
    """

    def deliver(body: bytes, *, schemes=("jwt", "hmac"), query: str = "", headers=None, **switches: Any) -> TestResponse:
        url = CALLBACK_URL + (f"?{query}" if query else "")
        signed = messagebird_signer(url, body, **switches)
        sent = {name: value for name, value in signed.items() if _scheme(name) in schemes}
        sent.update(headers or {})
        path = CALLBACK_PATH + (f"?{query}" if query else "")
        return client.post(path, data=body, headers=sent, content_type="application/json")

    return deliver


def _scheme(header: str) -> str:
    return "jwt" if header.lower().endswith("jwt") else "hmac"
