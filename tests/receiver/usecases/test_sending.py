"""Sending requests: documents are validated before any call; the CLI sends like the admin API."""

from __future__ import annotations

import json

import pytest

from receiver.usecases.documents import value_fits
from receiver.usecases.sending import parse_forget_document, parse_messagebird_document
from tests.support.databases import Backend

CALLBACK = "https://hooks.example.test/webhooks/messagebird/personal-data"
GOOD = {"kind": "KIND_PERSONAL_GET", "field": "email", "value": "jane@example.org", "reason": "Art. 15"}


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env: dict[str, str], provider_settings: dict[str, str]) -> dict[str, str]:
    return {**app_env, **provider_settings}


def test_a_good_document_becomes_the_documented_request_body():
    order, subject_ref = parse_messagebird_document({**GOOD, "subjectRef": "T-1"}, callback_url=CALLBACK)
    assert order.document() == {
        "kind": "KIND_PERSONAL_GET",
        "reason": "Art. 15",
        "field": "email",
        "value": "jane@example.org",
        "callback": {"http": CALLBACK},
    }
    assert subject_ref == "T-1" and "jane@example.org" not in repr(order)


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"kind": None}, "kind"),
        ({"kind": "KIND_PERSONAL_PATCH"}, "kind"),
        ({"field": None}, "field"),
        ({"field": "shoe_size"}, "field"),
        ({"value": None}, "value"),
        ({"value": "not-an-email"}, "value"),
        ({"field": "ipv4", "value": "::1"}, "value"),
        ({"field": "ipv6", "value": "10.0.0.1"}, "value"),
        ({"field": "phone_number", "value": "call me"}, "value"),
        ({"reason": None}, "reason"),
        ({"reason": "x" * 1001}, "reason"),
        ({"kind": "KIND_USER_GET"}, "field"),
        ({"kind": "KIND_USER_DELETE", "field": None}, "value"),
        ({"subjectref": "typo"}, "subjectref"),
    ],
)
def test_a_bad_messagebird_document_is_a_400_and_never_a_call(
    client, admin_headers, messagebird_simulator, change, parameter
):
    document = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = client.post("/api/requests", json=document, headers=admin_headers)
    assert response.status_code == 400
    assert response.json["errors"][0]["parameter"] == parameter
    assert messagebird_simulator.seen == []


@pytest.mark.parametrize("number", ["07700900123", "+447700900123", "44 7700 900123", "4477", 447700900123.0, True, ""])
def test_a_number_not_in_the_documented_form_is_refused_before_any_call(
    client, admin_headers, voodoosms_simulator, number
):
    response = client.post("/api/forget", json={"number": number}, headers=admin_headers)
    assert response.status_code == 400
    assert response.json["errors"][0]["parameter"] == "number"
    assert voodoosms_simulator.seen == []


def test_a_number_may_be_digits_or_an_integer():
    assert parse_forget_document({"number": "447700900123"}).number == 447700900123
    assert parse_forget_document({"number": 447700900123, "blacklist": False}).blacklist is False


@pytest.mark.parametrize(
    ("field", "value", "fits"),
    [
        ("phone_number", "+31 6 12345678", True),
        ("phone_number", "12", False),
        ("email", "a@b.co", True),
        ("ipv4", "192.0.2.1", True),
        ("ipv6", "2001:db8::1", True),
        ("name", "Jane Doe", True),
    ],
)
def test_values_are_checked_by_their_field(field, value, fits):
    assert value_fits(field, value) is fits


def test_without_a_provider_key_the_api_answers_503_configuration_error(app_env, admin_headers):
    from app import create_app

    app = create_app({**app_env, "MESSAGEBIRD_ACCESS_KEY": "", "VOODOOSMS_API_KEY": ""})
    try:
        client = app.test_client()
        for path, document in (("/api/requests", GOOD), ("/api/forget", {"number": "447700900123"})):
            response = client.post(path, json=document, headers=admin_headers)
            assert response.status_code == 503
            assert "is not configured: configuration error" in response.json["errors"][0]["description"]
    finally:
        app.extensions["services"].close()


def test_the_cli_sends_a_document_from_stdin(app, messagebird_simulator, voodoosms_simulator):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["requests", "create"], input=json.dumps(GOOD))
    assert created.exit_code == 0, created.output
    answer = json.loads(created.output)
    assert answer["id"] in messagebird_simulator.requests and answer["state"] == "sent"
    forgotten = runner.invoke(args=["requests", "forget"], input=json.dumps({"number": "447700900123"}))
    assert forgotten.exit_code == 0, forgotten.output
    assert json.loads(forgotten.output)["provider"] == "voodoosms"


def test_the_cli_reports_a_provider_refusal(app, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"unaffiliated": "447700900123"})
    result = app.test_cli_runner().invoke(args=["requests", "forget"], input='{"number": 447700900123}')
    assert result.exit_code == 1 and "VoodooSMS: Cannot use this number" in result.output


def test_sending_needs_the_admin_token(client, messagebird_simulator, voodoosms_simulator):
    for path, document in (("/api/requests", GOOD), ("/api/forget", {"number": "447700900123"})):
        assert client.post(path, json=document).status_code == 401
    assert messagebird_simulator.seen == [] and voodoosms_simulator.seen == []
