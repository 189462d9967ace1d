"""MessageBird end to end: admin API -> simulator -> signed callback over HTTP -> worker -> archive.

The service runs on a loopback port, the simulator on another (HTTPS); the simulator's
callbacks and archive downloads cross real sockets. The worker runs in the test's thread.
"""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest

from receiver.observability.logs import configure_logging
from receiver.providers.clients import build_provider_clients
from storage import jobs
from storage.models import ProcessorRequest
from tests.simulators.conftest import (
    backdate,
    callback_in,
    configure,
    first_reconciliation_done,
    make_due,
    provider_timeout,
    reconcile_now,
    record,
    run_jobs,
    settle,
)
from tests.support.simulators import ACCESS_KEY, eventually

EMAIL = "jane.doe.private@example.org"
PERSONAL_GET = {
    "kind": "KIND_PERSONAL_GET",
    "field": "email",
    "value": EMAIL,
    "reason": "Art. 15 request",
    "subjectRef": "TICKET-1",
}


def document(kind: str) -> dict:
    if kind.startswith("KIND_PERSONAL"):
        return {**PERSONAL_GET, "kind": kind}
    return {"kind": kind, "reason": "account-wide request"}


def simulated(simulator, request_id: str):
    return simulator.requests[request_id]


def answered(simulated_request) -> list[int]:
    """The answers to its callbacks, once the simulator has read one: it may still be reading when we have committed."""
    return eventually(lambda: list(simulated_request.deliveries))


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
    for answer in created.values():
        final = settle(services, answer["id"], "completed")
        assert answered(simulated(messagebird_simulator, answer["id"])) == [200]
        assert final["callbackMissing"] is False
    archived = record(services, created["KIND_PERSONAL_GET"]["id"])
    sample = simulated(messagebird_simulator, archived["id"]).archive
    assert (archived["archive"]["bytes"], archived["transitions"]) == (
        len(sample),
        ["sending", "sent", "callback_received", "archiving", "completed"],
    )
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
        "messagebird",
        "sent",
        "TICKET-1",
        "STATE_SENT",
    )
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
    ids = {
        kind: api("POST", "/api/requests", json=document(kind)).json()["id"]
        for kind in ("KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE", "KIND_USER_GET")
    }
    eventually(lambda: all(simulated(messagebird_simulator, i).state == "STATE_DONE" for i in ids.values()))
    reconcile_now(services)
    get = settle(services, ids["KIND_PERSONAL_GET"], "completed")
    assert get["callbackMissing"] and get["archive"]["sha256"]
    assert get["transitions"] == ["sending", "sent", "callback_received", "archiving", "completed"]
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
    messagebird_simulator.knobs.update({"bad_signature": "hmac", "callback_attempts": 2, "hold": True})
    configure(services, callback_grace_seconds=0)
    request_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    assert messagebird_simulator.release_held() == 1  # called back only once the request is recorded: never a 404
    eventually(lambda: simulated(messagebird_simulator, request_id).state == "STATE_CALLBACK_FAIL")
    assert simulated(messagebird_simulator, request_id).deliveries == [401, 401]
    assert api("GET", f"/api/requests/{request_id}").json()["callbacks"] == []  # refusals attach nothing
    sampled = api("GET", "/api/deliveries/refused").json()["refused"]
    assert sampled and {(s["status"], s["reason"]) for s in sampled} == {(401, "hmac_bad_signature")}
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
    assert response.json()["errors"] == [
        {"code": 10, "description": "MessageBird: field is invalid", "parameter": "field"}
    ]


def signature_key_of(services, request_id: str) -> str | None:
    with services.database.transaction() as session:
        sealed = session.get(ProcessorRequest, request_id).signature_key_sealed
    return services.secrets.open(sealed) if sealed else None


def test_the_listing_shows_the_complete_request_objects(services, api, messagebird_simulator):
    request_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    [listed] = services.providers.messagebird.list_requests()
    stored = simulated(messagebird_simulator, request_id)
    assert (listed.id, listed.kind, listed.field, listed.value, listed.reason, listed.signature_key) == (
        request_id,
        "KIND_PERSONAL_GET",
        "email",
        EMAIL,
        "Art. 15 request",
        stored.signature_key,
    )
    assert EMAIL not in repr(listed) and stored.signature_key not in repr(listed)


def test_a_send_that_times_out_after_creation_is_found_in_the_listing_not_sent_twice(
    api, services, messagebird_simulator, log_text
):
    """The simulator creates the request, then answers only after our timeout: 504, the intent kept;
    reconciliation finds the request in the listing with its signatureKey, and its callback verifies."""
    messagebird_simulator.knobs.update({"stall_after_create": 2.0, "callback_delay": 5.0})
    provider_timeout(services, 0.5)
    response = api("POST", "/api/requests", json=PERSONAL_GET)
    assert response.status_code == 504, response.text
    intent = response.json()["request"]
    assert (intent["state"], intent["intentId"]) == ("sending", intent["id"])
    assert intent["id"] in response.json()["errors"][0]["description"]
    [created] = messagebird_simulator.requests.values()
    reconcile_now(services)
    assert [c["method"] for c in messagebird_simulator.seen].count("POST") == 1  # never sent twice
    resolved = api("GET", f"/api/requests/{intent['id']}").json()
    assert (resolved["id"], resolved["state"], resolved["intentId"]) == (created.id, "sent", intent["id"])
    assert [t["to"] for t in resolved["transitions"]] == ["sending", "sent"]
    assert "found in MessageBird's listing" in resolved["transitions"][-1]["reason"]
    assert signature_key_of(services, created.id) == created.signature_key
    final = settle(services, created.id, "completed")
    assert answered(created) == [200] and final["callbackMissing"] is False
    assert created.signature_key not in log_text() and EMAIL not in log_text()


def test_a_send_nothing_shows_for_the_resolution_period_is_failed_with_what_to_do(api, services, messagebird_simulator):
    messagebird_simulator.knobs.update({"api_delay": 2.0})  # the request never reaches the API in time
    provider_timeout(services, 0.5)
    intent_id = api("POST", "/api/requests", json=document("KIND_USER_DELETE")).json()["request"]["id"]
    messagebird_simulator.knobs.update({"api_delay": 0.0})
    reconcile_now(services)
    assert record(services, intent_id)["state"] == "sending"
    backdate(services, intent_id, services.settings.send_resolution_max_seconds + 60)
    make_due(services, jobs.RECONCILE)
    run_jobs(services)
    failed = record(services, intent_id)
    assert (failed["state"], failed["transitions"]) == ("failed", ["sending", "failed"])
    assert "send it again" in failed["actionNeeded"]
    assert messagebird_simulator.requests == {}


def test_a_refused_send_keeps_no_intent(api, messagebird_simulator, monkeypatch):
    monkeypatch.setattr("simulators.messagebird.FIELDS", ("phone_number",))
    assert api("POST", "/api/requests", json=PERSONAL_GET).status_code == 422
    assert api("GET", "/api/requests").json()["requests"] == []


def failed_on_an_expired_link(api, services, messagebird_simulator) -> tuple[str, dict]:
    """A personal GET whose archive link has expired (410) when the worker fetches it: its id, and its record once
    failed. The start-up reconciliation is behind and the callback in before any job runs, so nothing moves the
    request on before the test sees it fail."""
    messagebird_simulator.knobs.update({"archive_gone": 1})
    first_reconciliation_done(services)
    request_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    callback_in(services, request_id)
    return request_id, settle(services, request_id, "failed")


def test_a_failed_download_moves_on_when_the_listing_names_a_new_archive_url(api, services, messagebird_simulator):
    """The archive link expired (410) before the worker fetched it: the request fails; reconciliation
    finds a new link in the listing, moves the request on again once, and the archive is stored."""
    request_id, failed = failed_on_an_expired_link(api, services, messagebird_simulator)
    assert "410" in failed["stateReason"]
    reconcile_now(services)
    make_due(services, jobs.RECONCILE)
    run_jobs(services)  # a second look changes nothing: the request is on its way already
    final = settle(services, request_id, "completed")
    assert final["transitions"] == [
        "sending",
        "sent",
        "callback_received",
        "archiving",
        "failed",
        "callback_received",
        "archiving",
        "completed",
    ]
    assert (
        final["archive"]["sha256"] == hashlib.sha256(simulated(messagebird_simulator, request_id).archive).hexdigest()
    )


def test_a_callback_that_came_before_its_answer_was_recorded_is_made_up_for_by_the_listing(
    api, services, messagebird_simulator
):
    """The send timed out and MessageBird called back at once: the callback names an id we do not know
    yet (404, three times). Reconciliation records the request from the listing, sees the callback
    failed there, and fetches the archive from the listing's URL: nothing is lost."""
    messagebird_simulator.knobs.update({"stall_after_create": 1.5, "callback_delay": 0.1})
    provider_timeout(services, 0.5)
    intent_id = api("POST", "/api/requests", json=PERSONAL_GET).json()["request"]["id"]
    [created] = messagebird_simulator.requests.values()
    eventually(lambda: created.state == "STATE_CALLBACK_FAIL")
    assert created.deliveries == [404, 404, 404]
    reconcile_now(services)
    final = settle(services, created.id, "completed")
    assert (final["intentId"], final["callbackMissing"], final["providerState"]) == (
        intent_id,
        True,
        "STATE_CALLBACK_FAIL",
    )
    assert final["archive"]["sha256"] == hashlib.sha256(created.archive).hexdigest()


def test_an_ops_retry_of_an_expired_archive_url_asks_the_listing_for_a_new_one(api, services, messagebird_simulator):
    """The archive link expired (410); ops retry before reconciliation comes round: the retry takes the
    listing's new link (the stored one would fail again) and the archive is stored."""
    request_id, failed = failed_on_an_expired_link(api, services, messagebird_simulator)
    assert "http_410" in failed["stateReason"]
    retried = api("POST", f"/api/requests/{request_id}/retry")
    assert retried.status_code == 202, retried.json()
    final = settle(services, request_id, "completed")
    reasons = [t["reason"] or "" for t in api("GET", f"/api/requests/{request_id}").json()["transitions"]]
    assert any("a new archive URL out of MessageBird's listing" in reason for reason in reasons)
    assert (
        final["archive"]["sha256"] == hashlib.sha256(simulated(messagebird_simulator, request_id).archive).hexdigest()
    )


def test_an_ops_retry_of_an_expired_url_the_listing_cannot_replace_is_refused(api, services, messagebird_simulator):
    request_id, _ = failed_on_an_expired_link(api, services, messagebird_simulator)
    simulated(messagebird_simulator, request_id).archive_token = None  # the listing has no archive URL now
    retried = api("POST", f"/api/requests/{request_id}/retry")
    assert retried.status_code == 409
    assert "listing gives no new one" in retried.json()["errors"][0]["description"]
    assert api("GET", f"/api/requests/{request_id}").json()["state"] == "failed"
