"""Legal holds over HTTP: placed and released by an operator, in the case's history, honoured by retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from receiver.usecases import operators
from receiver.usecases.retention import run_retention
from storage import retention as kept
from storage.clock import Clock
from tests.support.retention import add_case, archive_file, stored_request


def bearer(services, name: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {operators.create_token(services, name, role, actor='test').token}"}


@pytest.fixture
def olivia(services) -> dict[str, str]:
    return bearer(services, "olivia", "operator")


@pytest.fixture
def closed_case(services) -> tuple[str, str]:
    """A case closed 31 days ago, its archive due for deletion: (case id, request id)."""
    case_id = add_case(services, closed_days_ago=31)
    return case_id, stored_request(services, completed_days_ago=40, case_id=case_id)


def hold(client: FlaskClient, case_id: str, headers: dict[str, str], **document: Any):
    return client.post(f"/api/cases/{case_id}/legal-hold", json=document, headers=headers)


def test_a_hold_is_placed_by_a_named_operator_and_shows_on_the_case(client, olivia, closed_case):
    case_id, request_id = closed_case
    placed = hold(client, case_id, olivia, reason="litigation: claim 2026-17")
    assert placed.status_code == 200
    assert (
        placed.json["legalHold"]["by"] == "olivia" and placed.json["legalHold"]["reason"] == "litigation: claim 2026-17"
    )
    assert placed.json["archives"] == [{"requestId": request_id, "state": "kept", "deletedAt": None}]
    case = client.get(f"/api/cases/{case_id}", headers=olivia).json
    assert case["legalHold"] == placed.json["legalHold"]
    last = case["history"][-1]
    assert (last["kind"], last["actor"], last["changed"], last["to"], last["reason"]) == (
        "legal_hold_placed",
        "olivia",
        "legalHold",
        "held",
        "litigation: claim 2026-17",
    )


def test_a_held_archive_outlives_its_period_and_goes_once_the_hold_is_released(services, client, olivia, closed_case):
    case_id, request_id = closed_case
    hold(client, case_id, olivia, reason="regulator's inquiry")
    report = run_retention(services, actor="ops-test")
    assert archive_file(services, request_id).exists()
    assert f"  legal hold on {case_id}: 1 archive(s) kept" in report.lines()
    released = client.delete(f"/api/cases/{case_id}/legal-hold", json={"reason": "inquiry closed"}, headers=olivia)
    assert released.status_code == 200 and released.json["legalHold"] is None
    run_retention(services, actor="ops-test")
    assert not archive_file(services, request_id).exists()
    shown = client.get(f"/api/cases/{case_id}/legal-hold", headers=olivia).json
    assert shown["archives"][0]["state"] == "deleted" and shown["archives"][0]["deletedAt"] is not None
    history = client.get(f"/api/cases/{case_id}", headers=olivia).json["history"]
    release = next(event for event in history if event["kind"] == "legal_hold_released")
    assert release["actor"] == "olivia" and release["reason"] == "inquiry closed"
    assert release["from"].startswith("held since ") and release["from"].endswith(" by olivia")


def test_a_release_needs_no_body(client, olivia, closed_case):
    case_id, _ = closed_case
    hold(client, case_id, olivia, reason="hold")
    assert client.delete(f"/api/cases/{case_id}/legal-hold", headers=olivia).status_code == 200


def test_holding_twice_or_releasing_what_is_not_held_is_409(client, olivia, closed_case):
    case_id, _ = closed_case
    assert client.delete(f"/api/cases/{case_id}/legal-hold", headers=olivia).status_code == 409
    hold(client, case_id, olivia, reason="first")
    again = hold(client, case_id, olivia, reason="second")
    assert again.status_code == 409 and "under a legal hold already" in again.json["errors"][0]["description"]


@pytest.mark.parametrize("document", [{}, {"reason": "   "}, {"reason": "x", "until": "2030-01-01"}])
def test_a_hold_needs_a_reason_and_nothing_else(client, olivia, closed_case, document):
    answer = hold(client, closed_case[0], olivia, **document)
    assert answer.status_code == 400 and answer.json["errors"][0]["parameter"] in ("reason", "until")


def test_a_viewer_may_look_but_not_hold_or_release(services, client, closed_case):
    case_id, _ = closed_case
    viewer = bearer(services, "victor", "viewer")
    assert client.get(f"/api/cases/{case_id}/legal-hold", headers=viewer).status_code == 200
    assert hold(client, case_id, viewer, reason="x").status_code == 403
    assert client.delete(f"/api/cases/{case_id}/legal-hold", headers=viewer).status_code == 403
    assert client.post(f"/api/cases/{case_id}/legal-hold", json={"reason": "x"}).status_code == 401


def test_an_unknown_case_is_404(client, olivia):
    assert hold(client, "case-nope", olivia, reason="x").status_code == 404
    assert client.delete("/api/cases/case-nope/legal-hold", headers=olivia).status_code == 404


def test_a_hold_placed_while_a_deletion_is_under_way_says_so(services, client, olivia, closed_case):
    """The run claimed the archive before the hold: the hold cannot stop it, and its answer does not pretend to."""
    case_id, request_id = closed_case
    with services.database.transaction() as session:
        kept.claim_archive(session, request_id, retention=dt.timedelta(days=30), now=Clock().now())
    placed = hold(client, case_id, olivia, reason="too late for this one")
    assert placed.json["archives"] == [{"requestId": request_id, "state": "being deleted", "deletedAt": None}]
