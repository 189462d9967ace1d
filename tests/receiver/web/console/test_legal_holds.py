"""A legal hold on a case's page: its state, placed and released through the API's use cases, in the history.

The hold is offered on closed cases too (their archives are the ones retention
deletes); a role that may not act sees the hold but no form, and is refused if
it posts one; a form without its CSRF token changes nothing.
"""

from __future__ import annotations

import re

import pytest

from receiver.usecases import cases, legal_holds
from receiver.usecases.retention import run_retention
from tests.support.retention import add_case, stored_request


def hold_page(case_id: str) -> str:
    return f"/ops/cases/{case_id}"


def history_rows(page_text: str) -> list[tuple[str, str]]:
    """(who, what) of each row of the case's history table, top to bottom."""
    table = page_text.split('<h2 id="history-heading">', 1)[1]
    return re.findall(r'<th scope="row">([^<]+)</th>\s*<td>([^<]+)</td>', table)


def test_an_operator_places_a_hold_with_its_reason_and_the_page_shows_who_when_and_why(signed_in, open_case, services):
    case = open_case()
    page = signed_in.get(hold_page(case["id"])).text
    assert "No legal hold: the case's archives are deleted 30 days after it is closed" in page
    assert "Place a legal hold" in page and "Release the legal hold" not in page

    answer = signed_in.post(
        f"/ops/cases/{case['id']}/legal-hold", {"hold-reason": "claim 2026-17"}, page=hold_page(case["id"])
    )

    assert answer.status_code == 303 and answer.headers["Location"].endswith(hold_page(case["id"]))
    held = cases.show_case(services, case["id"]).as_json()["legalHold"]
    assert (held["by"], held["reason"]) == ("admin", "claim 2026-17")
    page = signed_in.get(answer.headers["Location"]).text
    assert "Legal hold placed: no archive of this case is deleted until it is released." in page
    assert re.search(
        rf"<strong>Under a legal hold</strong> since {held['since'][:10]} [\d:]+ UTC, placed by admin: "
        r"claim 2026-17\.",
        page,
    )
    assert '<span class="badge hold"' in page and '<span class="badge hold"' in signed_in.get("/ops/").text
    assert "Release the legal hold" in page and "Place a legal hold" not in page
    assert history_rows(page)[-1] == ("admin", "legal hold placed")
    assert '<rect class="held"' in page and "legal hold placed by admin: claim 2026-17" in page


def test_a_hold_needs_a_reason_and_nothing_changes_without_one(signed_in, open_case, services):
    case = open_case()
    answer = signed_in.post(f"/ops/cases/{case['id']}/legal-hold", {"hold-reason": "  "}, page=hold_page(case["id"]))
    assert answer.status_code == 400
    assert re.search(r'id="hold-reason-error">reason[^<]*</p>', answer.text)
    assert '<details open id="hold">' in answer.text
    assert cases.show_case(services, case["id"]).as_json()["legalHold"] is None


def test_a_release_with_or_without_a_reason_names_the_operator(signed_in, open_case, services):
    case = open_case()
    for reason in ("inquiry closed", ""):
        legal_holds.place_legal_hold(services, case["id"], {"reason": "inquiry"}, actor="olivia")
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/legal-hold/release", {"release-reason": reason}, page=hold_page(case["id"])
        )
        assert answer.status_code == 303
        released = cases.show_case(services, case["id"]).as_json()
        assert released["legalHold"] is None
        last = released["history"][-1]
        assert (last["kind"], last["actor"], last["reason"]) == ("legal_hold_released", "admin", reason or None)
    page = signed_in.get(hold_page(case["id"])).text
    assert "Legal hold released: the archives are deleted once their retention period is over." in page
    assert page.count('<rect class="held"') == 2 and "Place a legal hold" in page


def test_a_closed_case_offers_the_hold_but_no_other_action(signed_in, services):
    case_id = add_case(services, closed_days_ago=3)
    page = signed_in.get(hold_page(case_id)).text
    assert "Place a legal hold" in page and '<h2 id="actions-heading">' not in page
    answer = signed_in.post(f"/ops/cases/{case_id}/legal-hold", {"hold-reason": "regulator"}, page=hold_page(case_id))
    assert answer.status_code == 303 and cases.show_case(services, case_id).as_json()["legalHold"]["by"] == "admin"


def test_holding_a_case_held_meanwhile_is_refused_with_who_holds_it(signed_in, open_case, services):
    case = open_case()
    token_page = hold_page(case["id"])
    csrf = signed_in.csrf_token(token_page)
    legal_holds.place_legal_hold(services, case["id"], {"reason": "first"}, actor="olivia")
    answer = signed_in.client.post(
        f"/ops/cases/{case['id']}/legal-hold", data={"csrf_token": csrf, "hold-reason": "second"}
    )
    assert answer.status_code == 409 and "the case is under a legal hold already" in answer.text
    assert "by olivia" in answer.text
    assert cases.show_case(services, case["id"]).as_json()["legalHold"]["reason"] == "first"


def test_releasing_a_case_not_held_is_refused(signed_in, open_case):
    case = open_case()
    answer = signed_in.post(f"/ops/cases/{case['id']}/legal-hold/release", {}, page=hold_page(case["id"]))
    assert answer.status_code == 409 and "the case is not under a legal hold" in answer.text


def test_a_hold_posted_without_its_csrf_token_changes_nothing(signed_in, open_case, services):
    case = open_case()
    answer = signed_in.post(f"/ops/cases/{case['id']}/legal-hold", {"hold-reason": "x"}, csrf=False)
    assert answer.status_code == 400 and "Nothing was changed" in answer.text
    assert cases.show_case(services, case["id"]).as_json()["legalHold"] is None


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_a_role_that_may_not_act_sees_the_hold_but_may_not_place_or_release_it(signed_in_as, open_case, services, role):
    held, free = open_case(subjectRef="T-HELD"), open_case(subjectRef="T-FREE")
    legal_holds.place_legal_hold(services, held["id"], {"reason": "claim"}, actor="olivia")
    browser = signed_in_as(f"{role}-1", role)
    page = browser.get(hold_page(held["id"])).text
    assert "placed by olivia: claim." in page
    assert "/legal-hold" not in page and "Release the legal hold" not in page
    assert "Place a legal hold" not in browser.get(hold_page(free["id"])).text
    placed = browser.post(f"/ops/cases/{free['id']}/legal-hold", {"hold-reason": "x"}, page="/ops/")
    released = browser.post(f"/ops/cases/{held['id']}/legal-hold/release", {}, page="/ops/")
    assert placed.status_code == released.status_code == 403
    assert f"Your role ({role}) may not do this." in placed.text
    assert cases.show_case(services, free["id"]).as_json()["legalHold"] is None
    assert cases.show_case(services, held["id"]).as_json()["legalHold"]["by"] == "olivia"


def test_an_archive_deleted_by_retention_is_in_the_case_history_and_timeline(signed_in, services):
    case_id = add_case(services, closed_days_ago=31)
    request_id = stored_request(services, completed_days_ago=40, case_id=case_id)
    legal_holds.place_legal_hold(services, case_id, {"reason": "claim"}, actor="olivia")
    legal_holds.release_legal_hold(services, case_id, {}, actor="olivia")
    run_retention(services, actor="retention")

    page = signed_in.get(hold_page(case_id)).text

    assert history_rows(page)[-3:] == [
        ("olivia", "legal hold placed"),
        ("olivia", "legal hold released"),
        ("retention", "archive deleted"),
    ]
    assert re.search(
        rf'archive of <a href="/ops/requests/{request_id}"><code>{request_id}</code></a>: '
        rf"stored → deleted</td>\s*<td>ARCHIVE_RETENTION_DAYS=30: case {case_id} closed ",
        page,
    )
    assert re.search(r'<circle class="event deleted"[^>]*><title>archive deleted by retention, ', page)
    assert re.search(r'<p class="help">archive deleted \d{4}-\d\d-\d\d [\d:]+ UTC</p>', page)
