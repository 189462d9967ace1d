"""VoodooSMS end to end: admin API -> simulator -> status polling by the worker -> completed or failed."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from receiver.observability.logs import configure_logging
from storage import jobs
from storage.models import Job
from tests.simulators.conftest import (
    backdate,
    configure,
    make_due,
    provider_timeout,
    reconcile_now,
    record,
    run_jobs,
    settle,
)
from tests.support.simulators import VOODOOSMS_API_KEY

NUMBER = "447700900123"


def forget(api, **fields):
    return api("POST", "/api/forget", json={"number": NUMBER, "subjectRef": "TICKET-7", **fields})


def poll_job(services) -> Job:
    with services.database.transaction() as session:
        return session.scalars(select(Job).where(Job.kind == jobs.VOODOOSMS_POLL)).one()


@pytest.mark.parametrize("methods", ["POST,GET", "GET"])
def test_a_number_is_forgotten_once_the_status_says_removed(api, services, voodoosms_simulator, methods):
    voodoosms_simulator.knobs.update({"status_methods": methods, "removal_delay": 0.2})
    response = forget(api, blacklist=True)
    assert response.status_code == 201, response.text
    answer = response.json()
    [submitted] = voodoosms_simulator.requests.values()
    assert (answer["id"], answer["provider"], answer["kind"], answer["state"]) == (
        submitted.reference,
        "voodoosms",
        "FORGET",
        "sent",
    )
    assert (answer["blacklist"], submitted.blacklist, answer["subjectRef"]) == (True, True, "TICKET-7")
    final = settle(services, answer["id"], "completed")
    assert (final["providerState"], final["result"]) == ("removed", "The number has been removed")
    assert final["valueHash"] == services.secrets.value_hash("phone_number", "+44 7700 900123")
    assert final["providerCreatedAt"] is not None and final["providerCheckedAt"] is not None
    listed = api("GET", "/api/requests", params={"provider": "voodoosms"}).json()["requests"]
    assert [r["id"] for r in listed] == [answer["id"]]


def test_polling_backs_off_while_pending_and_stops_at_the_age_limit(api, services, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"outcome": "pending"})
    configure(
        services,
        voodoosms_poll_interval_seconds=1,
        voodoosms_poll_max_interval_seconds=60,
        voodoosms_poll_max_age_seconds=3600,
    )
    request_id = forget(api).json()["id"]
    for polls, interval in ((1, 1), (2, 2), (3, 4)):
        make_due(services, jobs.VOODOOSMS_POLL)
        run_jobs(services)
        job = poll_job(services)
        assert (job.state, job.attempts) == ("queued", polls)
        wait = (job.run_after - job.updated_at).total_seconds()
        assert interval - 0.5 < wait < interval + 0.5
    assert record(services, request_id)["result"] == "Your request has been accepted and is pending removal"
    configure(services, voodoosms_poll_max_age_seconds=0)
    make_due(services, jobs.VOODOOSMS_POLL)
    run_jobs(services)
    final = record(services, request_id)
    assert final["state"] == "failed" and final["stateReason"].startswith("not removed within 0 s")
    assert "ask VoodooSMS support" in final["actionNeeded"]
    assert poll_job(services).state == "done"


def test_error_78_fails_the_request_with_what_to_do(api, services, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"outcome": "failed"})
    request_id = forget(api).json()["id"]
    final = settle(services, request_id, "failed")
    assert final["stateReason"] == "VoodooSMS error 78: Request failed"
    assert "account manager" in final["actionNeeded"]


def test_error_77_is_recorded_and_polling_goes_on(api, services, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"outcome": "no_records"})
    request_id = forget(api).json()["id"]
    make_due(services, jobs.VOODOOSMS_POLL)
    run_jobs(services)
    found = record(services, request_id)
    assert (found["state"], found["providerState"], found["result"]) == (
        "sent",
        "no_records",
        "VoodooSMS error 77: No records found",
    )
    assert poll_job(services).state == "queued"


def test_an_outage_while_polling_is_waited_out(api, services, voodoosms_simulator):
    request_id = forget(api).json()["id"]
    voodoosms_simulator.knobs.update({"server_errors": 10, "removal_delay": 0})
    make_due(services, jobs.VOODOOSMS_POLL)
    run_jobs(services)
    assert (record(services, request_id)["state"], poll_job(services).state) == ("sent", "queued")
    voodoosms_simulator.knobs.update({"server_errors": 0})
    assert settle(services, request_id, "completed")["providerState"] == "removed"


def test_error_76_is_a_422_with_its_text_and_nothing_is_stored(api, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"unaffiliated": NUMBER})
    response = forget(api)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"code": 76, "description": "VoodooSMS: Cannot use this number"}]
    assert api("GET", "/api/requests").json()["requests"] == []


def test_the_number_and_the_api_key_never_reach_the_log(api, services, voodoosms_simulator):
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    try:
        request_id = forget(api, blacklist=False).json()["id"]
        settle(services, request_id, "completed")
    finally:
        configure_logging("json", "INFO")
    logged = buffer.getvalue()
    assert "forget.removed" in logged and request_id in logged
    assert NUMBER not in logged and VOODOOSMS_API_KEY not in logged


def forgets_sent(simulator) -> int:
    return sum(1 for call in simulator.seen if call["path"] == "/gdpr/forget")


def reconcile_later(services, *request_ids: str) -> None:
    """Reconcile once the resolution period of these requests is over."""
    for request_id in request_ids:
        backdate(services, request_id, services.settings.send_resolution_max_seconds + 60)
    make_due(services, jobs.RECONCILE)
    run_jobs(services)


def test_a_forget_that_times_out_is_found_by_the_status_call_and_polled(api, services, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"stall_after_forget": 2.0, "removal_delay": 0.2})
    provider_timeout(services, 0.5)
    response = forget(api, blacklist=True)
    assert response.status_code == 504, response.text
    intent = response.json()["request"]
    assert (intent["state"], intent["blacklist"]) == ("sending", True)
    [submitted] = voodoosms_simulator.requests.values()
    reconcile_now(services)
    resolved = record(services, submitted.reference)
    assert (resolved["state"], resolved["intentId"], resolved["transitions"]) == (
        "sent",
        intent["id"],
        ["sending", "sent"],
    )
    final = settle(services, submitted.reference, "completed")
    assert (final["providerState"], final["blacklist"]) == ("removed", True)
    assert forgets_sent(voodoosms_simulator) == 1


def test_a_forget_voodoosms_has_no_record_of_is_failed_after_the_resolution_period(api, services, voodoosms_simulator):
    voodoosms_simulator.knobs.update({"stall_after_forget": 2.0, "outcome": "no_records"})
    provider_timeout(services, 0.5)
    intent_id = forget(api).json()["request"]["id"]
    reconcile_now(services)
    assert record(services, intent_id)["state"] == "sending"
    reconcile_later(services, intent_id)
    failed = record(services, intent_id)
    assert (failed["state"], failed["transitions"]) == ("failed", ["sending", "failed"])
    assert "send it again" in failed["actionNeeded"] and forgets_sent(voodoosms_simulator) == 1


def test_two_forgets_the_status_call_cannot_tell_apart_are_left_to_ops(api, services, voodoosms_simulator):
    """Asked by date, VoodooSMS names one request: with two unresolved forgets that moment, neither is taken."""
    voodoosms_simulator.knobs.update({"stall_after_forget": 2.0})
    provider_timeout(services, 0.5)
    first = forget(api).json()["request"]["id"]
    second = forget(api, number="447700900456").json()["request"]["id"]
    reconcile_now(services)
    assert [record(services, i)["state"] for i in (first, second)] == ["sending", "sending"]
    reconcile_later(services, first, second)
    for intent_id in (first, second):
        failed = record(services, intent_id)
        assert failed["state"] == "failed" and "submit the number again" in failed["actionNeeded"]
