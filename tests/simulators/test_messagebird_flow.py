"""MessageBird end to end: admin API -> simulator -> signed callback over HTTP -> worker -> archive.

The service runs on a loopback port, the simulator on another (HTTPS); the simulator's
callbacks and archive downloads cross real sockets. The worker runs in the test's thread.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from receiver.observability.logs import configure_logging
from receiver.providers.clients import build_provider_clients
from storage import jobs
from tests.simulators.conftest import configure, make_due, reconcile_now, record, run_jobs, settle
from tests.support.simulators import ACCESS_KEY, eventually

EMAIL = "jane.doe.private@example.org"
PERSONAL_GET = {"kind": "KIND_PERSONAL_GET", "field": "email", "value": EMAIL, "reason": "Art. 15 request",
                "subjectRef": "TICKET-1"}


def document(kind: str) -> dict:
    if kind.startswith("KIND_PERSONAL"):
        return {**PERSONAL_GET, "kind": kind}
    return {"kind": kind, "reason": "account-wide request"}


def simulated(simulator, request_id: str):
    return simulator.requests[request_id]


@pytest.fixture
def log_text():
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield buffer.getvalue
    configure_logging("json", "INFO")


def test_every_kind_is_sent_called_back_with_both_signatures_and_completed(api, services, messagebird_simulator):
    created = {}
    for kind in ("KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE", "KIND_USER_GET", "KIND_USER_DELETE"):
        response = api("POST", "/api/requests", json=document(kind))
        assert response.status_code == 201, response.text
        created[kind] = response.json()
    for kind, answer in created.items():
        final = settle(services, answer["id"], "completed")
        assert simulated(messagebird_simulator, answer["id"]).deliveries == [200]
        assert final["callbackMissing"] is False
    archived = record(services, created["KIND_PERSONAL_GET"]["id"])
    sample = simulated(messagebird_simulator, archived["id"]).archive
    assert (archived["archive"]["bytes"], archived["transitions"]) == (
        len(sample), ["sent", "callback_received", "archiving", "completed"])
    detail = api("GET", f"/api/requests/{archived['id']}").json()
    assert [(c["jwt"]["verdict"], c["hmac"]["verdict"]) for c in detail["callbacks"]] == [("passed", "passed")]
    assert record(services, created["KIND_USER_DELETE"]["id"])["stateReason"] == "erasure confirmed"


def test_the_answer_keeps_the_id_hides_the_key_and_the_value_is_only_hashed(
    api, services, messagebird_simulator, log_text
):
    response = api("POST", "/api/requests", json=PERSONAL_GET)
    answer = response.json()
    stored = simulated(messagebird_simulator, answer["id"])
    assert (answer["provider"], answer["state"], answer["subjectRef"], answer["providerState"]) == (
        "messagebird", "sent", "TICKET-1", "STATE_SENT")
    assert stored.signature_key not in response.text and EMAIL not in response.text
    assert record(services, answer["id"])["valueHash"] == services.secrets.value_hash("email", EMAIL)
    again = api("POST", "/api/requests", json={**PERSONAL_GET, "value": EMAIL.upper()}).json()
    assert again["earlierRequests"] == [answer["id"]]
    settle(services, answer["id"], "completed")
    logged = log_text()
    assert "request.created" in logged
    for secret in (EMAIL, stored.signature_key, ACCESS_KEY, messagebird_simulator.signing_key):
        assert secret not in logged


def test_a_missing_callback_is_flagged_and_the_listing_used(api, services, messagebird_simulator, log_text):
    messagebird_simulator.knobs.update({"callback": "none", "callback_delay": 0.05})
    configure(services, callback_grace_seconds=0)
    ids = {kind: api("POST", "/api/requests", json=document(kind)).json()["id"]
           for kind in ("KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE", "KIND_USER_GET")}
    eventually(lambda: all(simulated(messagebird_simulator, i).state == "STATE_DONE" for i in ids.values()))
    reconcile_now(services)
    get = settle(services, ids["KIND_PERSONAL_GET"], "completed")
    assert get["callbackMissing"] and get["archive"]["sha256"]
    assert get["transitions"] == ["sent", "callback_received", "archiving", "completed"]
    delete = record(services, ids["KIND_PERSONAL_DELETE"])
    assert delete["state"] == "completed" and "MessageBird's listing (STATE_DONE)" in delete["stateReason"]
    no_url = record(services, ids["KIND_USER_GET"])
    assert (no_url["state"], no_url["callbackMissing"], no_url["providerState"]) == ("sent", True, "STATE_DONE")
    assert "ask MessageBird support" in no_url["actionNeeded"]
    flagged = api("GET", "/api/requests", params={"callbackMissing": "true"}).json()["requests"]
    assert {r["id"] for r in flagged} == set(ids.values())
    events = [json.loads(line) for line in log_text().splitlines()]
    assert sorted(e["request_id"] for e in events if e["event"] == "request.callback_missing") == sorted(ids.values())


def test_a_callback_with_a_bad_signature_is_refused_then_reconciled(api, services, messagebird_simulator):
    messagebird_simulator.knobs.update({"bad_signature": "hmac", "callback_attempts": 2})
    configure(services, callback_grace_seconds=0)
    request_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    eventually(lambda: simulated(messagebird_simulator, request_id).state == "STATE_CALLBACK_FAIL")
    assert simulated(messagebird_simulator, request_id).deliveries == [401, 401]
    callbacks = api("GET", f"/api/requests/{request_id}").json()["callbacks"]
    assert [(c["verdict"], c["reason"], c["jwt"]["verdict"]) for c in callbacks] == [
        ("rejected", "hmac_bad_signature", "passed")] * 2
    reconcile_now(services)
    final = settle(services, request_id, "completed")
    assert final["callbackMissing"] and final["providerState"] == "STATE_CALLBACK_FAIL"


def test_a_late_callback_inside_the_grace_period_is_not_flagged(api, services, messagebird_simulator):
    messagebird_simulator.knobs.update({"callback_delay": 1.0})
    request_id = api("POST", "/api/requests", json=document("KIND_USER_DELETE")).json()["id"]
    reconcile_now(services)
    assert record(services, request_id)["providerState"] == "STATE_SENT"
    final = settle(services, request_id, "completed")
    assert final["callbackMissing"] is False and final["stateReason"] == "erasure confirmed"


def test_a_request_the_provider_failed_is_failed_with_what_to_do(api, services, messagebird_simulator):
    messagebird_simulator.knobs.update({"outcome": "failed", "callback_delay": 0.05})
    request_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    eventually(lambda: simulated(messagebird_simulator, request_id).state == "STATE_FAILED")
    reconcile_now(services)
    final = record(services, request_id)
    assert (final["state"], final["stateReason"]) == ("failed", "MessageBird reports STATE_FAILED")
    assert "create it again" in final["actionNeeded"]


def test_reconciliation_outlives_a_provider_outage(services, messagebird_simulator):
    run_jobs(services)
    messagebird_simulator.knobs.update({"server_errors": 10})
    make_due(services, jobs.RECONCILE)
    assert run_jobs(services) == 1
    with services.database.transaction() as session:
        assert jobs.pending_count(session, jobs.RECONCILE) == 1


def test_an_oversize_archive_fails_the_request(api, services, messagebird_simulator):
    messagebird_simulator.knobs.update({"oversize_archive": 3 * 1024 * 1024})
    configure(services, archive_max_bytes=1024 * 1024)
    request_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    final = settle(services, request_id, "failed")
    assert final["stateReason"] == "archive larger than ARCHIVE_MAX_BYTES"


def test_a_rate_limit_is_waited_out(api, services, messagebird_simulator):
    messagebird_simulator.knobs.update({"rate_limit": 1, "retry_after": 1})
    started = time.monotonic()
    assert api("POST", "/api/requests", json=PERSONAL_GET).status_code == 201
    assert time.monotonic() - started >= 1
    assert messagebird_simulator.api_calls == 2


@pytest.mark.parametrize(
    ("knobs", "status", "code", "retry_after"),
    [({"server_errors": 10}, 503, 100, None), ({"rate_limit": 10, "retry_after": 30}, 503, 100, "30")],
)
def test_a_provider_that_stays_down_is_a_503_and_nothing_is_stored(
    api, messagebird_simulator, knobs, status, code, retry_after
):
    messagebird_simulator.knobs.update(knobs)
    response = api("POST", "/api/requests", json=PERSONAL_GET)
    assert (response.status_code, response.json()["errors"][0]["code"]) == (status, code)
    assert response.headers.get("Retry-After") == retry_after
    assert api("GET", "/api/requests").json()["requests"] == []


def test_a_refused_access_key_is_a_configuration_error(api, services):
    configure(services, messagebird_access_key="test_revoked_key")
    services.providers = build_provider_clients(services.settings)
    response = api("POST", "/api/requests", json=PERSONAL_GET)
    assert response.status_code == 502
    assert "configuration error, check MESSAGEBIRD_ACCESS_KEY" in response.json()["errors"][0]["description"]


def test_a_422_from_messagebird_passes_on_its_code_and_parameter(api, messagebird_simulator, monkeypatch):
    monkeypatch.setattr("simulators.messagebird.FIELDS", ("phone_number",))
    response = api("POST", "/api/requests", json=PERSONAL_GET)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"code": 10, "description": "MessageBird: field is invalid",
                                          "parameter": "field"}]
