"""The cases pages: the list most urgent first with its badges, filters and search; a case and its actions.

Every action goes through the API's use case, so the history names the signed-in
operator; a refusal comes back on the field it names with the API's status; a
role that may not act is offered nothing and refused if it tries; a form without
its CSRF token changes nothing.
"""

from __future__ import annotations

import re

import pytest

from receiver.usecases import cases
from tests.receiver.web.console.conftest import TODAY, days_ago


def rows(page_text: str) -> list[str]:
    """The subject references of the cases list, top to bottom."""
    return re.findall(r'<th scope="row" class="ref"><a href="/ops/cases/[^"]+">([^<]+)</a></th>', page_text)


def badges(page_text: str) -> list[str]:
    return re.findall(r'<span class="badge (\w+)"[^>]*>([^<]+)</span>', page_text)


class TestTheList:
    def test_the_overdue_case_is_on_top_then_by_days_left(self, signed_in, open_case):
        open_case(subjectRef="T-LATER", receivedOn=days_ago(2))
        open_case(subjectRef="T-SOONER", receivedOn=days_ago(20), jurisdiction="EU")
        open_case(subjectRef="T-OVERDUE", receivedOn="2024-11-25")
        page = signed_in.get("/ops/").text
        assert rows(page) == ["T-OVERDUE", "T-SOONER", "T-LATER"]
        overdue, sooner, later = badges(page)
        assert overdue[0] == "danger" and re.fullmatch(r"overdue \d+ days", overdue[1])
        assert sooner[0] == "info" and later[0] == "info"

    def test_a_case_under_a_quarter_of_its_time_is_red(self, signed_in, open_case):
        open_case(subjectRef="T-NEARLY", receivedOn=days_ago(26), jurisdiction="EU")
        ((tone, text),) = badges(signed_in.get("/ops/").text)
        assert tone == "danger" and re.fullmatch(r"\d days? left", text)

    def test_search_by_subject_ref_and_filters_are_server_side(self, signed_in, open_case):
        open_case(subjectRef="ACME-7", right="erasure")
        open_case(subjectRef="acme-8", jurisdiction="EU")
        open_case(subjectRef="OTHER-9")
        assert sorted(rows(signed_in.get("/ops/?q=Acme").text)) == ["ACME-7", "acme-8"]
        assert rows(signed_in.get("/ops/?q=acme&right=erasure").text) == ["ACME-7"]
        assert rows(signed_in.get("/ops/?jurisdiction=EU").text) == ["acme-8"]
        assert rows(signed_in.get("/ops/?q=100%25").text) == []
        assert "No case matches these filters." in signed_in.get("/ops/?q=nobody").text

    def test_a_filter_value_that_is_not_known_is_a_400_page(self, signed_in):
        answer = signed_in.get("/ops/?state=lost")
        assert answer.status_code == 400 and "state is not one of the known values" in answer.text

    def test_the_list_shows_each_processor_and_its_progress(self, signed_in, open_case, register):
        case = open_case(subjectRef="T-PROGRESS")
        register("req-1", caseId=case["id"])
        page = signed_in.get("/ops/").text
        assert "MessageBird: sent" in page and 'aria-label="0 of 1 ended"' in page

    def test_pages_follow_a_cursor(self, signed_in, open_case, monkeypatch):
        from receiver.web.console import cases as console_cases

        monkeypatch.setattr(console_cases, "PAGE", 2)
        for day in (3, 5, 7):
            open_case(subjectRef=f"T-{day}", receivedOn=days_ago(day), jurisdiction="EU")
        first = signed_in.get("/ops/").text
        next_url = re.search(r'<a href="([^"]+)">Next page', first).group(1).replace("&amp;", "&")
        assert rows(first) + rows(signed_in.get(next_url).text) == ["T-7", "T-5", "T-3"]


class TestOpeningACase:
    def test_an_operator_opens_a_case_from_the_form(self, signed_in, services):
        answer = signed_in.post(
            "/ops/cases",
            {"subject_ref": "T-NEW", "right": "access", "received_on": TODAY.isoformat(), "jurisdiction": "UK"},
            page="/ops/cases/new",
        )
        assert answer.status_code == 303
        case_id = answer.headers["Location"].rsplit("/", 1)[1]
        assert cases.show_case(services, case_id).as_json()["history"][0]["actor"] == "admin"
        assert "Case opened for T-NEW" in signed_in.get(answer.headers["Location"]).text

    def test_a_refused_document_comes_back_on_its_field(self, signed_in):
        answer = signed_in.post(
            "/ops/cases",
            {
                "subject_ref": "jane@example.org",
                "right": "access",
                "received_on": TODAY.isoformat(),
                "jurisdiction": "UK",
            },
            page="/ops/cases/new",
        )
        assert answer.status_code == 400
        assert re.search(r'id="subject_ref-error">subjectRef must be a reference, not an e-mail', answer.text)

    def test_a_case_received_before_the_gdpr_applied_is_refused_on_its_field(self, signed_in):
        form = {"subject_ref": "T-OLD", "right": "access", "received_on": "2018-05-24", "jurisdiction": "EU"}
        answer = signed_in.post("/ops/cases", form, page="/ops/cases/new")
        assert answer.status_code == 400
        assert re.search(
            r'id="received_on-error">receivedOn cannot be before 2018-05-25, .*\(Art\. 99\(2\)\)', answer.text
        )
        assert 'min="2018-05-25"' in signed_in.get("/ops/cases/new").text
        assert "T-OLD" not in signed_in.get("/ops/").text


class TestACase:
    def test_the_page_shows_the_timeline_the_deadline_explained_and_the_history(self, signed_in, open_case):
        case = open_case(subjectRef="T-ICO", receivedOn="2024-11-25")
        page = signed_in.get(f"/ops/cases/{case['id']}").text
        assert '<svg viewBox="0 0 960' in page and "Timeline of the case" in page
        assert "Christmas Day" in page and "<strong>2024-12-27</strong>" in page
        assert re.search(r"<th scope=\"row\">olivia</th>\s*<td>opened</td>", page)

    def test_an_unknown_case_is_a_404_page(self, signed_in):
        answer = signed_in.get("/ops/cases/case-nothere")
        assert answer.status_code == 404 and "no case with this id" in answer.text

    def test_extending_names_the_operator_in_the_history(self, signed_in, open_case, services):
        case = open_case(receivedOn=days_ago(5))
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/extend",
            {"extend-reason": "complex request", "extend-informed_on": TODAY.isoformat()},
            page=f"/ops/cases/{case['id']}",
        )
        assert answer.status_code == 303
        after = cases.show_case(services, case["id"]).as_json()
        assert after["extended"] and after["history"][-1]["actor"] == "admin"
        page = signed_in.get(answer.headers["Location"]).text
        assert f"Deadline extended to {after['dueOn']}." in page
        assert "Extend the deadline by two months" not in page  # once only

    def test_the_engine_refusal_is_shown_with_its_status_and_nothing_changes(self, signed_in, open_case, services):
        case = open_case(receivedOn="2024-11-25")
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/extend",
            {"extend-reason": "complex", "extend-informed_on": TODAY.isoformat()},
            page=f"/ops/cases/{case['id']}",
        )
        assert answer.status_code == 409 and "first deadline" in answer.text
        assert '<details open id="extend">' in answer.text
        assert cases.show_case(services, case["id"]).as_json()["extended"] is False

    def test_stopping_and_restarting_the_clock(self, signed_in, open_case, services):
        case = open_case(receivedOn=days_ago(5))
        stopped = signed_in.post(
            f"/ops/cases/{case['id']}/pause",
            {"pause-reason": "identity to confirm", "pause-date": days_ago(1)},
            page=f"/ops/cases/{case['id']}",
        )
        assert stopped.status_code == 303 and cases.show_case(services, case["id"]).as_json()["paused"]
        page = signed_in.get(stopped.headers["Location"]).text
        assert "clock stopped" in page and "Restart the clock" in page and "Stop the clock" not in page
        resumed = signed_in.post(
            f"/ops/cases/{case['id']}/resume", {"resume-date": TODAY.isoformat()}, page=f"/ops/cases/{case['id']}"
        )
        assert resumed.status_code == 303
        assert [e["actor"] for e in cases.show_case(services, case["id"]).as_json()["history"][1:]] == [
            "admin",
            "admin",
        ]

    def test_closing_records_the_answer(self, signed_in, open_case, services):
        case = open_case(receivedOn=days_ago(5))
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/close",
            {"close-responded_on": TODAY.isoformat(), "close-delivered_by": "secure email"},
            page=f"/ops/cases/{case['id']}",
        )
        assert answer.status_code == 303
        page = signed_in.get(answer.headers["Location"]).text
        assert "Case closed: answered in time." in page and '<h2 id="actions-heading">' not in page
        assert cases.show_case(services, case["id"]).as_json()["closedBy"] == "admin"

    def test_a_bad_request_document_is_shown_on_its_field_and_never_sent(self, signed_in, open_case, services):
        case = open_case()
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/requests",
            {
                "send-kind": "KIND_PERSONAL_GET",
                "send-field": "email",
                "send-value": "not-an-email",
                "send-reason": "Art. 15",
            },
            page=f"/ops/cases/{case['id']}",
        )
        assert answer.status_code == 400
        assert 'id="send-value-error">value is not a valid email' in answer.text
        assert cases.show_case(services, case["id"]).as_json()["requests"] == []

    def test_a_provider_without_credentials_is_explained(self, signed_in, open_case, services):
        case = open_case()
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/forget",
            {"forget-number": "447700900123", "forget-reason": "Art. 17"},
            page=f"/ops/cases/{case['id']}",
        )
        assert answer.status_code == 503
        assert "VoodooSMS is not configured: configuration error, check VOODOOSMS_API_KEY" in answer.text
        after = cases.show_case(services, case["id"]).as_json()
        assert after["requests"] == []
        added, refused = after["history"][1:]  # the history does not keep a request that was never made
        assert (added["kind"], refused["kind"], refused["actor"]) == ("request_added", "request_refused", "admin")
        assert refused["from"] == added["to"] and "not sent, not_configured" in refused["reason"]
        assert added["requestId"] is None  # no request goes by the intent's name any more

    def test_a_form_without_its_csrf_token_changes_nothing(self, signed_in, open_case, services):
        case = open_case(receivedOn=days_ago(5))
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/extend",
            {"extend-reason": "complex", "extend-informed_on": TODAY.isoformat()},
            csrf=False,
        )
        assert answer.status_code == 400 and "Nothing was changed" in answer.text
        assert cases.show_case(services, case["id"]).as_json()["history"] == case["history"]


class TestARequestSentFromTheCase:
    @pytest.fixture
    def app_env(self, app_env, provider_settings):
        return {**app_env, **provider_settings}

    def test_the_history_links_it_by_the_providers_id_and_says_what_it_was_sent_as(
        self, signed_in, open_case, services, messagebird_simulator
    ):
        case = open_case()
        answer = signed_in.post(
            f"/ops/cases/{case['id']}/requests",
            {"send-kind": "KIND_USER_GET", "send-field": "", "send-reason": "Art. 15"},
            page=f"/ops/cases/{case['id']}",
        )
        assert answer.status_code == 303, answer.text
        [request] = cases.show_case(services, case["id"]).as_json()["requests"]
        page = signed_in.get(f"/ops/cases/{case['id']}").text
        assert (
            f'requests: <a href="/ops/requests/{request["id"]}"><code>{request["id"]}</code></a> '
            f'<span class="muted">(sent as <code>{request["intentId"]}</code>)</span>'
        ) in page


@pytest.mark.parametrize("role", ["viewer", "auditor"])
class TestRolesThatMayNotAct:
    def test_no_action_is_offered(self, signed_in_as, open_case, role):
        case = open_case()
        browser = signed_in_as(f"{role}-1", role)
        page = browser.get(f"/ops/cases/{case['id']}").text
        assert "Actions" not in page and "/extend" not in page and "Open a case" not in browser.get("/ops/").text

    @pytest.mark.parametrize("action", ["extend", "pause", "resume", "close", "requests", "forget"])
    def test_an_action_tried_anyway_is_a_403_page_and_changes_nothing(
        self, signed_in_as, open_case, services, role, action
    ):
        case = open_case(receivedOn=days_ago(5))
        browser = signed_in_as(f"{role}-2", role)
        answer = browser.post(f"/ops/cases/{case['id']}/{action}", {f"{action}-reason": "x"}, page="/ops/")
        assert answer.status_code == 403 and f"Your role ({role}) may not do this." in answer.text
        assert cases.show_case(services, case["id"]).as_json()["history"] == case["history"]

    def test_opening_a_case_is_refused(self, signed_in_as, role):
        browser = signed_in_as(f"{role}-3", role)
        assert browser.get("/ops/cases/new").status_code == 403
        assert browser.post("/ops/cases", {"subject_ref": "T-1"}, page="/ops/").status_code == 403
