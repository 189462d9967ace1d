"""Fixtures for driving the callback endpoint the way MessageBird does, and a case lived through the API."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from receiver.usecases import operators
from storage import lifecycle
from storage.clock import Clock
from storage.models import ProcessorRequest
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

    def deliver(
        body: bytes, *, schemes=("jwt", "hmac"), query: str = "", headers=None, **switches: Any
    ) -> TestResponse:
        url = CALLBACK_URL + (f"?{query}" if query else "")
        signed = messagebird_signer(url, body, **switches)
        sent = {name: value for name, value in signed.items() if _scheme(name) in schemes}
        sent.update(headers or {})
        path = CALLBACK_PATH + (f"?{query}" if query else "")
        return client.post(path, data=body, headers=sent, content_type="application/json")

    return deliver


def _scheme(header: str) -> str:
    return "jwt" if header.lower().endswith("jwt") else "hmac"


#: The personal data value and the archive URL of ``answered_case``: neither may show in what is handed out.
SUBJECT_EMAIL = "jane.doe@example.org"
ARCHIVE_LINK = "https://files.example.test/archive-link-4711.zip"


@pytest.fixture
def answered_case(client: FlaskClient, services, register, deliver) -> dict[str, Any]:
    """A case's whole life through the API: opened, extended, a request verified and archived, answered in time.

    The archive is recorded stored as the worker leaves it; the rest goes through the service's own paths.
    """
    olivia = {"Authorization": f"Bearer {operators.create_token(services, 'olivia', 'operator', actor='admin').token}"}
    today = Clock().now().date()
    opened = client.post(
        "/api/cases",
        headers=olivia,
        json={
            "subjectRef": "TICKET-7",
            "right": "access",
            "jurisdiction": "EU",
            "receivedOn": (today - dt.timedelta(days=10)).isoformat(),
        },
    ).json
    extended = client.post(
        f"/api/cases/{opened['id']}/extend",
        headers=olivia,
        json={"reason": "many processors", "informedOn": today.isoformat()},
    )
    assert extended.status_code == 200, extended.json
    register("req-1", "KIND_PERSONAL_GET", caseId=opened["id"])
    with services.database.transaction() as session:
        request = session.get(ProcessorRequest, "req-1")
        request.field, request.value_hash = "email", services.secrets.value_hash("email", SUBJECT_EMAIL)
    assert deliver(callback_body("req-1", data=ARCHIVE_LINK)).status_code == 200
    with services.database.transaction() as session:
        request = session.get(ProcessorRequest, "req-1")
        lifecycle.move(request, lifecycle.ARCHIVING)
        request.archive_uri, request.archive_bytes = "file:///archives/req-1.zip", 2048
        request.archive_sha256, request.archive_version_id = "ab" * 32, "v-0001"
        request.archive_stored_at = Clock().now()
        lifecycle.move(request, lifecycle.COMPLETED, reason="archive stored")
    closed = client.post(
        f"/api/cases/{opened['id']}/close",
        headers=olivia,
        json={"respondedOn": today.isoformat(), "deliveredBy": "secure email"},
    )
    assert closed.status_code == 200, closed.json
    return closed.json
