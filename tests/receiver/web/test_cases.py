"""The cases API: open, list most urgent first, read, extend, pause, resume, close; requests sent or attached."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from deadlines import Calendar, Pause, compute_deadline
from receiver.usecases import operators

TODAY = dt.datetime.now(dt.UTC).date()
ICO_CASE = {"subjectRef": "TICKET-42", "right": "access", "receivedOn": "2024-11-25", "jurisdiction": "UK"}


def days_ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


@pytest.fixture
def olivia(services) -> dict[str, str]:
    """A named operator's bearer header."""
    return {"Authorization": f"Bearer {operators.create_token(services, 'olivia', 'operator', actor='admin').token}"}


@pytest.fixture
def open_case(client: FlaskClient, olivia):
    def open_case(**changes: Any) -> dict[str, Any]:
        response = client.post("/api/cases", json={**ICO_CASE, **changes}, headers=olivia)
        assert response.status_code == 201, response.json
        return response.json

    return open_case


def test_a_uk_case_received_25_november_2024_is_due_27_december_2024(open_case):
    opened = open_case()
    assert opened["id"].startswith("case-")
    assert (opened["dueOn"], opened["state"], opened["overdue"]) == ("2024-12-27", "open", True)
    assert "Christmas Day" in opened["deadline"]["explanation"]
    assert opened["history"][0]["actor"] == "olivia"


@pytest.mark.parametrize(
    ("change", "status", "parameter"),
    [
        ({"right": None}, 400, "right"),
        ({"jurisdiction": "FR"}, 400, "jurisdiction"),
        ({"receivedOn": "2024-13-01"}, 400, "receivedOn"),
        ({"receivedOn": "2999-01-01"}, 400, "receivedOn"),
        ({"receivedOn": "2000-01-01"}, 400, "receivedOn"),
        ({"clockStartsOn": "2024-11-26", "jurisdiction": "EU"}, 400, "clockStartsOn"),
        ({"subjectRef": "+447700900123"}, 400, "subjectRef"),
        ({"colour": "red"}, 400, "colour"),
    ],
)
def test_a_bad_case_document_is_400_naming_the_parameter(client, olivia, change, status, parameter):
    document = {key: value for key, value in {**ICO_CASE, **change}.items() if value is not None}
    response = client.post("/api/cases", json=document, headers=olivia)
    assert response.status_code == status
    assert response.json["errors"][0]["parameter"] == parameter


def test_a_case_received_before_the_gdpr_applied_is_refused_and_one_received_that_day_opened(client, olivia):
    """GDPR Art. 99(2): the Regulation applies from 25 May 2018 (the API once opened cases received in 2000)."""
    refused = client.post("/api/cases", json={**ICO_CASE, "receivedOn": "2018-05-24"}, headers=olivia)
    assert refused.status_code == 400
    assert refused.json["errors"][0] == {
        "code": 10,
        "description": "receivedOn cannot be before 2018-05-25, the day the GDPR applied (Art. 99(2))",
        "parameter": "receivedOn",
    }
    opened = client.post("/api/cases", json={**ICO_CASE, "receivedOn": "2018-05-25"}, headers=olivia)
    assert (opened.status_code, opened.json["receivedOn"]) == (201, "2018-05-25")
    assert client.get("/api/cases", headers=olivia).json["cases"][0]["receivedOn"] == "2018-05-25"


def test_a_case_document_must_be_json(client, olivia):
    assert (
        client.post(
            "/api/cases", data="subjectRef=T", headers=olivia, content_type="application/x-www-form-urlencoded"
        ).status_code
        == 415
    )


def test_the_list_is_most_urgent_first_with_the_overdue_case_on_top(client, olivia, open_case):
    later = open_case(receivedOn=days_ago(2))
    sooner = open_case(receivedOn=days_ago(20))
    overdue = open_case()
    listed = client.get("/api/cases", headers=olivia).json
    assert [c["id"] for c in listed["cases"]] == [overdue["id"], sooner["id"], later["id"]]
    assert [c["overdue"] for c in listed["cases"]] == [True, False, False]
    assert listed["cases"][0]["daysLeft"] < 0 < listed["cases"][1]["daysLeft"] < listed["cases"][2]["daysLeft"]
    only_overdue = client.get("/api/cases?overdue=true", headers=olivia).json["cases"]
    assert [c["id"] for c in only_overdue] == [overdue["id"]]
    due_soon = client.get(f"/api/cases?dueBefore={later['dueOn']}", headers=olivia).json["cases"]
    assert [c["id"] for c in due_soon] == [overdue["id"], sooner["id"]]
    page = client.get("/api/cases?limit=2", headers=olivia).json
    rest = client.get(f"/api/cases?limit=2&cursor={page['nextCursor']}", headers=olivia).json
    assert [c["id"] for c in page["cases"] + rest["cases"]] == [overdue["id"], sooner["id"], later["id"]]
    assert rest["nextCursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        "state=lost",
        "overdue=yes",
        "dueBefore=tomorrow",
        "dueBefore=2025-02-30",
        "right=all",
        "jurisdiction=US",
        "limit=0",
        "limit=201",
        "cursor=%%%",
    ],
)
def test_bad_list_queries_are_400(client, olivia, query):
    response = client.get(f"/api/cases?{query}", headers=olivia)
    assert response.status_code == 400
    assert response.json["errors"][0]["parameter"] == query.split("=")[0]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/cases/case%00x"),
        ("POST", "/api/cases/case%00x/pause"),
        ("GET", "/api/requests/r%00x"),
        ("POST", "/api/requests/r%00x/retry"),
    ],
)
def test_an_id_no_database_can_store_is_400_not_a_crash(client, olivia, method, path):
    response = client.open(path, method=method, json={"reason": "id", "date": days_ago(0)}, headers=olivia)
    assert response.status_code == 400


def test_an_unknown_case_is_404(client, olivia):
    for method, path, document in (
        ("GET", "/api/cases/case-none", None),
        ("POST", "/api/cases/case-none/resume", {"date": days_ago(0)}),
    ):
        response = client.open(path, method=method, json=document, headers=olivia)
        assert (response.status_code, response.json["errors"][0]["code"]) == (404, 20)


class TestDeadlineChanges:
    def test_an_extension_answers_the_new_deadline_and_only_once(self, client, olivia, open_case):
        case_id = open_case(receivedOn=days_ago(5))["id"]
        document = {"reason": "many processors involved", "informedOn": days_ago(0)}
        extended = client.post(f"/api/cases/{case_id}/extend", json=document, headers=olivia)
        assert extended.status_code == 200
        assert extended.json["dueOn"] > extended.json["originalDueOn"]
        assert extended.json["history"][-1]["actor"] == "olivia"
        again = client.post(f"/api/cases/{case_id}/extend", json=document, headers=olivia)
        assert again.status_code == 409 and again.json["errors"][0]["code"] == 101

    def test_no_extension_once_the_first_deadline_has_passed(self, client, olivia, open_case):
        case_id = open_case()["id"]
        response = client.post(
            f"/api/cases/{case_id}/extend", json={"reason": "late", "informedOn": "2024-12-20"}, headers=olivia
        )
        assert response.status_code == 409
        assert "first deadline has passed" in response.json["errors"][0]["description"]

    def test_pause_and_resume_move_the_deadline_by_the_days_stopped(self, client, olivia, open_case):
        case_id = open_case(receivedOn=days_ago(10))["id"]
        paused = client.post(
            f"/api/cases/{case_id}/pause", json={"reason": "identity asked for", "date": days_ago(4)}, headers=olivia
        )
        assert paused.status_code == 200 and paused.json["paused"] is True
        resumed = client.post(f"/api/cases/{case_id}/resume", json={"date": days_ago(0)}, headers=olivia)
        assert resumed.status_code == 200
        expected = compute_deadline(
            received_on=TODAY - dt.timedelta(days=10),
            calendar=Calendar.for_jurisdiction("UK"),
            pauses=[Pause(TODAY - dt.timedelta(days=4), TODAY)],
        )
        assert (resumed.json["dueOn"], resumed.json["deadline"]["pausedDays"]) == (expected.due_on.isoformat(), 4)
        assert [(e["kind"], e["actor"]) for e in resumed.json["history"]] == [
            ("opened", "olivia"),
            ("paused", "olivia"),
            ("resumed", "olivia"),
        ]

    def test_resuming_a_running_clock_is_409(self, client, olivia, open_case):
        case_id = open_case(receivedOn=days_ago(10))["id"]
        response = client.post(f"/api/cases/{case_id}/resume", json={"date": days_ago(0)}, headers=olivia)
        assert response.status_code == 409


class TestRequestsOfACase:
    def test_an_imported_request_joins_its_case_with_its_target(
        self, client, olivia, open_case, messagebird_signature_key
    ):
        case_id = open_case(receivedOn=days_ago(3))["id"]
        document = {"id": "mb-1", "signatureKey": messagebird_signature_key, "kind": "KIND_USER_GET", "caseId": case_id}
        imported = client.post("/api/requests/import", json=document, headers=olivia)
        assert imported.status_code == 201 and imported.json["caseId"] == case_id
        shown = client.get(f"/api/cases/{case_id}", headers=olivia).json
        assert shown["state"] == "waiting_on_processors"
        [request] = shown["requests"]
        assert (request["id"], request["targetOn"], request["late"]) == ("mb-1", shown["targetOn"], False)

    @pytest.mark.parametrize(("case_id", "status"), [("case-none", 404), ("closed", 409)])
    def test_a_request_cannot_join_a_missing_or_closed_case(self, client, olivia, open_case, case_id, status):
        if case_id == "closed":
            case_id = open_case(receivedOn=days_ago(3))["id"]
            closing = {"respondedOn": days_ago(0), "deliveredBy": "secure email"}
            assert client.post(f"/api/cases/{case_id}/close", json=closing, headers=olivia).status_code == 200
        document = {"id": "mb-1", "signatureKey": "k", "kind": "KIND_USER_GET", "caseId": case_id}
        assert client.post("/api/requests/import", json=document, headers=olivia).status_code == status

    def test_closing_needs_every_request_ended_or_an_override(self, client, olivia, open_case):
        case_id = open_case(receivedOn=days_ago(3))["id"]
        client.post(
            "/api/requests/import",
            json={"id": "mb-1", "signatureKey": "k", "kind": "KIND_USER_GET", "caseId": case_id},
            headers=olivia,
        )
        closing = {"respondedOn": days_ago(0), "deliveredBy": "secure email"}
        refused = client.post(f"/api/cases/{case_id}/close", json=closing, headers=olivia)
        assert refused.status_code == 409 and "overrideReason" in refused.json["errors"][0]["description"]
        closed = client.post(
            f"/api/cases/{case_id}/close", json={**closing, "overrideReason": "answered in part"}, headers=olivia
        )
        assert (closed.status_code, closed.json["state"], closed.json["closedBy"]) == (200, "closed", "olivia")
        listed = client.get("/api/cases?state=closed", headers=olivia).json["cases"]
        assert [c["id"] for c in listed] == [case_id]


class TestSendingForACase:
    @pytest.fixture
    def app_env(self, app_env, provider_settings):
        return {**app_env, **provider_settings}

    def test_requests_sent_through_a_case_belong_to_it(
        self, client, olivia, open_case, messagebird_simulator, voodoosms_simulator
    ):
        case_id = open_case(receivedOn=days_ago(1), subjectRef="T-7")["id"]
        sent = client.post(
            f"/api/cases/{case_id}/requests",
            headers=olivia,
            json={"kind": "KIND_PERSONAL_DELETE", "field": "email", "value": "jane@example.org", "reason": "Art. 17"},
        )
        assert sent.status_code == 201, sent.json
        assert (sent.json["caseId"], sent.json["subjectRef"]) == (case_id, "T-7")
        forgotten = client.post(f"/api/cases/{case_id}/forget", json={"number": "447700900123"}, headers=olivia)
        assert forgotten.status_code == 201, forgotten.json
        shown = client.get(f"/api/cases/{case_id}", headers=olivia).json
        assert sorted(r["provider"] for r in shown["requests"]) == ["messagebird", "voodoosms"]
        assert {
            r["transitions"][0]["actor"]
            for r in (client.get(f"/api/requests/{x['id']}", headers=olivia).json for x in shown["requests"])
        } == {"olivia"}

    def test_the_history_names_each_request_sent_by_its_providers_id_and_the_intent_it_was_sent_as(
        self, client, olivia, open_case, messagebird_simulator, voodoosms_simulator, messagebird_signature_key
    ):
        case_id = open_case(receivedOn=days_ago(1))["id"]
        sent = client.post(
            f"/api/cases/{case_id}/requests", headers=olivia, json={"kind": "KIND_USER_GET", "reason": "Art. 15"}
        ).json
        forgotten = client.post(f"/api/cases/{case_id}/forget", json={"number": "447700900123"}, headers=olivia).json
        imported = {
            "id": "mb-imported",
            "signatureKey": messagebird_signature_key,
            "kind": "KIND_USER_GET",
            "caseId": case_id,
        }
        assert client.post("/api/requests/import", json=imported, headers=olivia).status_code == 201
        added = [
            entry
            for entry in client.get(f"/api/cases/{case_id}", headers=olivia).json["history"]
            if entry["kind"] == "request_added"
        ]
        assert [(entry["to"], entry["requestId"]) for entry in added] == [
            (sent["intentId"], sent["id"]),
            (forgotten["intentId"], forgotten["id"]),
            ("mb-imported", "mb-imported"),
        ]
        assert sent["intentId"].startswith("intent-") and not sent["id"].startswith("intent-")
        assert {
            entry["requestId"]
            for entry in client.get(f"/api/cases/{case_id}", headers=olivia).json["history"]
            if entry["kind"] != "request_added"
        } == {None}

    def test_a_case_in_the_path_and_another_in_the_document_is_400_and_never_a_call(
        self, client, olivia, open_case, messagebird_simulator
    ):
        case_id = open_case(receivedOn=days_ago(1))["id"]
        response = client.post(
            f"/api/cases/{case_id}/requests",
            headers=olivia,
            json={"kind": "KIND_USER_GET", "reason": "export", "caseId": "case-other"},
        )
        assert (response.status_code, response.json["errors"][0]["parameter"]) == (400, "caseId")
        assert messagebird_simulator.seen == []

    def test_a_request_for_a_missing_case_is_never_sent(self, client, olivia, messagebird_simulator):
        response = client.post(
            "/api/requests", headers=olivia, json={"kind": "KIND_USER_GET", "reason": "export", "caseId": "case-none"}
        )
        assert response.status_code == 404
        assert messagebird_simulator.seen == []
