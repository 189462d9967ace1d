"""Log lines: one event per callback, JSON with stable fields, never a secret or a personal data value."""

from __future__ import annotations

import io
import json

import pytest

from receiver.observability.logs import configure_logging
from tests.receiver.conftest import CALLBACK_PATH, callback_body

EMAIL = "jane.doe.private@example.org"
PHONE = "+31612345678"
NAME = "Jane Q. Doe"
ADDRESS = "Keizersgracht 123, 1015 CJ Amsterdam"
ARCHIVE_URL = "https://files.example.test/archive.zip?token=s3cr3t-download-token"


@pytest.fixture
def log_lines(app):
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    configure_logging("json", "INFO")


def test_personal_data_and_secrets_never_reach_the_log(
    register, deliver, client, admin_headers, log_lines, messagebird_signing_key, messagebird_signature_key
):
    register("req-1", "KIND_PERSONAL_GET", field="email", reason=f"access request by {NAME}", subjectRef="T-1")
    personal = {"result": f"found {EMAIL} {PHONE} {NAME} {ADDRESS}"}
    body = callback_body("req-1", data=ARCHIVE_URL, **personal)
    deliver(body)
    deliver(body, wrong_key=True)
    deliver(body, replayed=True)
    deliver(callback_body("nobody", data=ARCHIVE_URL, **personal))
    client.post(CALLBACK_PATH, data=f'{{"requestId": "{EMAIL}", '.encode(), content_type="application/json")
    client.post(
        "/api/requests/import",
        json={"id": "x", "signatureKey": messagebird_signature_key, "kind": "KIND_X"},
        headers=admin_headers,
    )
    text = json.dumps(log_lines())
    for secret in (
        EMAIL,
        PHONE,
        NAME,
        ADDRESS,
        ARCHIVE_URL,
        "s3cr3t-download-token",
        messagebird_signing_key,
        messagebird_signature_key,
        admin_headers["Authorization"].split()[1],
    ):
        assert secret not in text


def test_each_callback_logs_one_event_with_its_verdicts(register, deliver, log_lines):
    register("req-1", "KIND_USER_DELETE")
    deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("jwt",))
    deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("jwt",))
    deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("jwt",), expired=True)
    events = [line for line in log_lines() if line["event"].startswith("callback.")]
    assert [e["event"] for e in events] == ["callback.accepted", "callback.duplicate", "callback.rejected"]
    accepted = events[0]
    assert (accepted["request_id"], accepted["kind"], accepted["jwt"], accepted["hmac"]) == (
        "req-1",
        "KIND_USER_DELETE",
        "passed",
        "absent",
    )
    assert isinstance(accepted["latency_ms"], float)
    assert events[2]["reason"] == "jwt_expired"
    assert len({e["http_request_id"] for e in events}) == 3


def test_fields_named_like_secrets_are_redacted(log_lines):
    from receiver.observability.logs import get_logger

    get_logger("test").info("probe.logged", token="t0ken-value", body="raw-body", signature_key="k3y")
    [line] = [line for line in log_lines() if line["event"] == "probe.logged"]
    assert (line["token"], line["body"], line["signature_key"]) == ("[redacted]",) * 3


def test_console_format_writes_readable_lines(app):
    buffer = io.StringIO()
    configure_logging("console", "INFO", stream=buffer)
    try:
        app.test_client().get("/healthz")
    finally:
        configure_logging("json", "INFO")
    assert "http.request" in buffer.getvalue()
    assert not buffer.getvalue().lstrip().startswith("{")


def test_standard_library_extra_fields_are_kept_and_still_redacted(log_lines):
    import logging

    logging.getLogger("storage.archives").warning("archive.tag_failed", extra={"reason": "AccessDenied", "token": "t"})
    [line] = [line for line in log_lines() if line["event"] == "archive.tag_failed"]
    assert (line["reason"], line["token"]) == ("AccessDenied", "[redacted]")


def test_urls_in_any_field_and_in_tracebacks_are_cut_to_their_origin(log_lines):
    import logging

    from receiver.observability.logs import get_logger

    secret_url = "https://files.example.test/tok-SECRET123/a.zip?X-Amz-Signature=SIG-SECRET456"
    get_logger("test").warning("probe.failed", error=f"GET {secret_url} answered 404")
    try:
        raise ValueError(f"could not open {secret_url}")
    except ValueError:
        logging.getLogger("urllib3.probe").exception("probe.raised %s", secret_url)
        get_logger("test").exception("probe.raised_too")
    lines = [line for line in log_lines() if line["event"].startswith("probe.")]
    assert len(lines) == 3
    text = json.dumps(lines)
    assert "SECRET123" not in text and "SIG-SECRET456" not in text
    assert lines[0]["error"] == "GET https://files.example.test answered 404"
    assert "https://files.example.test" in lines[1]["exception"] and "ValueError" in lines[2]["exception"]
