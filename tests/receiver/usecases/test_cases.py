"""Cases: the deadline from the engine on the sources' worked examples, every change in the history, closing rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app import create_app
from receiver.services import Services
from receiver.usecases import cases, registration
from receiver.usecases.errors import UseCaseError
from storage import case_registry, lifecycle, registry
from storage.errors import StorageError

RECEIVED = "2024-11-25"  # Monday 25 November 2024, the ICO's example
UK_CASE = {"subjectRef": "TICKET-42", "right": "access", "receivedOn": RECEIVED, "jurisdiction": "UK"}
D = dt.date.fromisoformat


def open_uk(services: Services, today: str = "2024-11-26", **changes: Any) -> dict[str, Any]:
    return cases.open_case(services, {**UK_CASE, **changes}, actor="alice", today=D(today)).as_json()


def add_request(services: Services, case_id: str, request_id: str, *, state: str = "sent") -> None:
    """A request of the case (imported by bob), moved to ``state``."""
    registration.import_messagebird_request(
        services, {"id": request_id, "signatureKey": "k", "kind": "KIND_USER_DELETE", "caseId": case_id}, actor="bob"
    )
    if state != lifecycle.SENT:
        with services.database.transaction() as session:
            lifecycle.move(registry.find(session, request_id), state)


def refusal(call: Any) -> UseCaseError:
    with pytest.raises(UseCaseError) as refused:
        call()
    return refused.value


class TestOpening:
    def test_a_request_received_before_the_gdpr_applied_is_refused(self, services):
        """GDPR Art. 99(2): it applies from 25 May 2018. Received on the 24th: refused; on the 25th: opened."""
        refused = refusal(lambda: open_uk(services, today="2018-05-24", receivedOn="2018-05-24"))
        assert (refused.kind, refused.reason, refused.parameter) == ("invalid", "before_gdpr_applied", "receivedOn")
        assert refused.message == "receivedOn cannot be before 2018-05-25, the day the GDPR applied (Art. 99(2))"
        opened = open_uk(services, today="2018-05-25", receivedOn="2018-05-25", jurisdiction="EU")
        assert (opened["receivedOn"], opened["dueOn"]) == ("2018-05-25", "2018-06-25")

    def test_the_icos_example_is_due_friday_27_december_and_says_why(self, services):
        opened = open_uk(services)
        assert (opened["dueOn"], opened["state"], opened["daysLeft"]) == ("2024-12-27", "open", 31)
        assert opened["deadline"]["explanation"] == (
            "received 2024-11-25; + 1 calendar month (UK GDPR Art. 12(3), 12A; ICO) → 2024-12-25; "
            "bank holiday, Christmas Day (ICO) → 2024-12-26; bank holiday, Boxing Day (ICO) → 2024-12-27"
        )
        assert [step["rule"] for step in opened["deadline"]["steps"]] == [
            "received",
            "one_calendar_month",
            "holiday",
            "holiday",
        ]
        assert opened["targetOn"] == "2024-12-20"
        [event] = opened["history"]
        assert (event["actor"], event["kind"], event["changed"], event["to"]) == (
            "alice",
            "opened",
            "dueOn",
            "2024-12-27",
        )

    def test_an_eu_deadline_does_not_move_unless_a_country_is_set(self, services, app_env):
        eu = cases.open_case(
            services, {**UK_CASE, "jurisdiction": "EU"}, actor="alice", today=D("2024-11-26")
        ).as_json()
        assert eu["dueOn"] == "2024-12-25"
        german = create_app({**app_env, "DEADLINE_EU_NEXT_WORKING_DAY": "DE"})
        try:
            moved = cases.open_case(
                german.extensions["services"], {**UK_CASE, "jurisdiction": "EU"}, actor="alice", today=D("2024-11-26")
            ).as_json()
        finally:
            german.extensions["services"].close()
        assert moved["dueOn"] == "2024-12-27"
        assert moved["deadline"]["calendar"] == {"jurisdiction": "EU", "country": "DE", "subdivision": None}
        # a case keeps the calendar it was opened on, whatever the settings say later
        assert cases.show_case(services, moved["id"], today=D("2024-11-26")).as_json()["dueOn"] == "2024-12-27"

    def test_scotland_keeps_its_own_bank_holidays(self, services, app_env):
        scottish = create_app({**app_env, "DEADLINE_UK_SUBDIVISION": "SCT"})
        try:
            opened = cases.open_case(
                scottish.extensions["services"],
                {**UK_CASE, "receivedOn": "2024-12-02"},
                actor="alice",
                today=D("2024-12-02"),
            ).as_json()
        finally:
            scottish.extensions["services"].close()
        assert opened["dueOn"] == "2025-01-03"  # 2 January is a bank holiday in Scotland only

    def test_the_uk_clock_may_start_later(self, services):
        opened = open_uk(services, today="2024-12-01", clockStartsOn="2024-11-29")
        assert opened["dueOn"] == "2024-12-30"  # 29 December 2024 is a Sunday

    @pytest.mark.parametrize(
        ("changes", "parameter", "reason"),
        [
            ({"jurisdiction": "EU", "clockStartsOn": "2024-11-26"}, "clockStartsOn", "clock_start_uk_only"),
            ({"clockStartsOn": "2024-11-24"}, "clockStartsOn", "clock_start_before_receipt"),
            ({"receivedOn": "2024-11-27"}, "receivedOn", "date_in_future"),
            ({"receivedOn": "2000-01-01"}, "receivedOn", "before_gdpr_applied"),
            ({"receivedOn": "25/11/2024"}, "receivedOn", "invalid"),
            ({"right": "forgetting"}, "right", "invalid"),
            ({"subjectRef": "jane@example.org"}, "subjectRef", "invalid"),
            ({"subjectRef": ""}, "subjectRef", "missing_field"),
        ],
    )
    def test_a_case_that_can_never_be_right_is_refused(self, services, changes, parameter, reason):
        refused = refusal(lambda: open_uk(services, **changes))
        assert (refused.kind in ("invalid", "missing"), refused.reason, refused.parameter) == (True, reason, parameter)


class TestExtension:
    def test_two_further_months_count_three_months_from_the_start(self, services):
        case_id = open_uk(services)["id"]
        extended = cases.extend_deadline(
            services,
            case_id,
            {"reason": "complex request", "informedOn": "2024-12-09"},
            actor="carol",
            today=D("2024-12-10"),
        ).as_json()
        assert (extended["dueOn"], extended["originalDueOn"], extended["extended"]) == (
            "2025-02-25",
            "2024-12-27",
            True,
        )
        event = extended["history"][-1]
        assert (event["actor"], event["kind"], event["from"], event["to"]) == (
            "carol",
            "extended",
            "2024-12-27",
            "2025-02-25",
        )
        assert "complex request" in event["reason"]

    def test_once_only(self, services):
        case_id = open_uk(services)["id"]
        document = {"reason": "complex request", "informedOn": "2024-12-09"}
        cases.extend_deadline(services, case_id, document, actor="carol", today=D("2024-12-10"))
        refused = refusal(
            lambda: cases.extend_deadline(services, case_id, document, actor="carol", today=D("2024-12-11"))
        )
        assert (refused.kind, refused.reason) == ("conflict", "already_extended")

    def test_never_after_the_first_deadline_has_passed(self, services):
        case_id = open_uk(services)["id"]
        document = {"reason": "late", "informedOn": "2024-12-27"}
        refused = refusal(
            lambda: cases.extend_deadline(services, case_id, document, actor="carol", today=D("2024-12-28"))
        )
        assert (refused.kind, refused.reason) == ("conflict", "first_deadline_passed")
        assert [e["kind"] for e in cases.show_case(services, case_id, today=D("2024-12-28")).as_json()["history"]] == [
            "opened"
        ]


class TestStoppingTheClock:
    def test_the_deadline_moves_by_the_paused_days_and_the_history_names_who(self, services):
        case_id = open_uk(services)["id"]
        paused = cases.pause(
            services,
            case_id,
            {"reason": "identity asked for", "date": "2024-12-01"},
            actor="dave",
            today=D("2024-12-01"),
        ).as_json()
        assert (paused["paused"], paused["pausedSince"], paused["dueOn"]) == (True, "2024-12-01", "2024-12-27")
        # while the clock is stopped, the deadline moves one day a day: nothing is overdue meanwhile
        while_paused = cases.show_case(services, case_id, today=D("2024-12-10")).as_json()
        assert (while_paused["dueOn"], while_paused["overdue"]) == ("2025-01-03", False)
        resumed = cases.resume(services, case_id, {"date": "2024-12-10"}, actor="erin", today=D("2024-12-12")).as_json()
        assert (resumed["paused"], resumed["dueOn"], resumed["deadline"]["pausedDays"]) == (False, "2025-01-03", 9)
        history = [(e["actor"], e["kind"], e["from"], e["to"]) for e in resumed["history"]]
        assert history[1:] == [
            ("dave", "paused", "running", "stopped since 2024-12-01"),
            ("erin", "resumed", "2024-12-27", "2025-01-03"),
        ]
        assert resumed["history"][2]["reason"] == "clock stopped 2024-12-01 to 2024-12-10: 9 days"

    def test_a_clock_stopped_by_a_server_a_day_ahead_reads_without_error(self, services):
        case_id = open_uk(services)["id"]
        cases.pause(services, case_id, {"reason": "id", "date": "2024-12-02"}, actor="dave", today=D("2024-12-02"))
        behind = cases.show_case(services, case_id, today=D("2024-12-01")).as_json()
        assert (behind["paused"], behind["dueOn"]) == (True, "2024-12-27")
        listed = cases.list_cases(services, case_registry.CaseFilter(), limit=5, today=D("2024-12-01"))
        assert [summary.due_on for summary in listed.cases] == ["2024-12-27"]

    @pytest.mark.parametrize(
        ("first", "then", "today", "kind", "reason"),
        [
            ("pause", {"reason": "id", "date": "2024-12-02"}, "2024-12-02", "conflict", "already_paused"),
            ("resume", {"date": "2024-11-30"}, "2024-12-02", "invalid", "resume_before_pause"),
            ("resume", {"date": "2024-12-03"}, "2024-12-02", "invalid", "date_in_future"),
        ],
    )
    def test_refusals_while_paused(self, services, first, then, today, kind, reason):
        case_id = open_uk(services)["id"]
        cases.pause(services, case_id, {"reason": "id", "date": "2024-12-01"}, actor="dave", today=D("2024-12-01"))
        action = cases.pause if first == "pause" else cases.resume
        refused = refusal(lambda: action(services, case_id, then, actor="dave", today=D(today)))
        assert (refused.kind, refused.reason) == (kind, reason)

    @pytest.mark.parametrize(
        ("action", "document", "today", "kind", "reason"),
        [
            ("resume", {"date": "2024-12-02"}, "2024-12-02", "conflict", "not_paused"),
            ("pause", {"reason": "id", "date": "2024-12-28"}, "2024-12-30", "conflict", "pause_after_deadline"),
            ("pause", {"reason": "id", "date": "2024-12-05"}, "2024-12-02", "invalid", "pause_after_today"),
            ("pause", {"reason": "id", "date": "2024-11-24"}, "2024-12-02", "invalid", "pause_before_clock_start"),
            ("pause", {"date": "2024-12-02"}, "2024-12-02", "missing", "missing_field"),
        ],
    )
    def test_refusals_while_running(self, services, action, document, today, kind, reason):
        case_id = open_uk(services)["id"]
        call = cases.pause if action == "pause" else cases.resume
        refused = refusal(lambda: call(services, case_id, document, actor="dave", today=D(today)))
        assert (refused.kind, refused.reason) == (kind, reason)


class TestRequestsAndState:
    def test_the_state_follows_the_requests_and_each_has_its_target(self, services):
        case_id = open_uk(services)["id"]
        add_request(services, case_id, "r-1")
        add_request(services, case_id, "r-2", state="completed")
        shown = cases.show_case(services, case_id, today=D("2024-12-01")).as_json()
        assert shown["state"] == "waiting_on_processors"
        assert [(r["id"], r["targetOn"], r["late"]) for r in shown["requests"]] == [
            ("r-1", "2024-12-20", False),
            ("r-2", "2024-12-20", False),
        ]
        late = cases.show_case(services, case_id, today=D("2024-12-21")).as_json()
        assert late["state"] == "needs_attention"
        assert [r["late"] for r in late["requests"]] == [True, False]
        assert [e["kind"] for e in shown["history"]] == ["opened", "request_added", "request_added"]
        assert shown["history"][1]["actor"] == "bob"

    @pytest.mark.parametrize(
        ("states", "today", "paused_on"),
        [
            ((), "2024-12-01", None),
            (("sent",), "2024-12-01", None),
            (("sent",), "2024-12-21", None),
            (("completed", "completed"), "2024-12-21", None),
            (("completed", "failed"), "2024-12-01", None),
            (("sent",), "2024-12-23", "2024-12-15"),
            (("sent",), "2024-12-23", "2024-12-21"),
        ],
    )
    def test_a_list_filtered_by_state_agrees_with_the_case(self, services, states, today, paused_on):
        case_id = open_uk(services)["id"]
        for n, state in enumerate(states):
            add_request(services, case_id, f"{case_id}-{n}", state=state)
        if paused_on:
            cases.pause(services, case_id, {"reason": "id", "date": paused_on}, actor="dave", today=D(paused_on))
        state = cases.show_case(services, case_id, today=D(today)).as_json()["state"]
        for candidate in case_registry.STATES:
            found = cases.list_cases(services, case_registry.CaseFilter(state=candidate), limit=10, today=D(today))
            assert ([summary.id for summary in found.cases] == [case_id]) is (candidate == state), candidate
            assert all(summary.state == candidate for summary in found.cases)


class TestClosing:
    def test_every_request_must_have_ended(self, services):
        case_id = open_uk(services)["id"]
        add_request(services, case_id, "r-1", state="completed")
        add_request(services, case_id, "r-2")
        document = {"respondedOn": "2024-12-20", "deliveredBy": "secure email"}
        refused = refusal(lambda: cases.close(services, case_id, document, actor="frank", today=D("2024-12-20")))
        assert (refused.kind, refused.reason) == ("conflict", "requests_not_ended")
        assert "r-2" in refused.message

    def test_closing_records_when_and_how_the_answer_went_out(self, services):
        case_id = open_uk(services)["id"]
        add_request(services, case_id, "r-1", state="completed")
        closed = cases.close(
            services,
            case_id,
            {"respondedOn": "2024-12-20", "deliveredBy": "secure email"},
            actor="frank",
            today=D("2024-12-21"),
        ).as_json()
        assert (closed["state"], closed["respondedOn"], closed["deliveredBy"], closed["closedBy"]) == (
            "closed",
            "2024-12-20",
            "secure email",
            "frank",
        )
        assert (closed["answeredInTime"], closed["overdue"], closed["daysLeft"]) == (True, False, None)
        event = closed["history"][-1]
        assert (event["actor"], event["kind"], event["from"], event["to"]) == ("frank", "closed", "ready", "closed")

    def test_an_override_with_a_reason_closes_with_requests_open(self, services):
        case_id = open_uk(services)["id"]
        add_request(services, case_id, "r-1")
        closed = cases.close(
            services,
            case_id,
            {
                "respondedOn": "2024-12-20",
                "deliveredBy": "post",
                "overrideReason": "the processor holds no data on this subject",
            },
            actor="frank",
            today=D("2024-12-20"),
        ).as_json()
        assert closed["state"] == "closed"
        assert [(e["kind"], e["reason"]) for e in closed["history"][-2:]] == [
            ("closed", "answered 2024-12-20 by post"),
            ("close_override", "the processor holds no data on this subject"),
        ]

    def test_a_case_closed_while_its_clock_is_stopped_keeps_the_deadline_of_the_day_it_was_answered(self, services):
        case_id = open_uk(services)["id"]
        cases.pause(services, case_id, {"reason": "id", "date": "2024-12-01"}, actor="dave", today=D("2024-12-01"))
        early = {"respondedOn": "2024-11-30", "deliveredBy": "post"}
        refused = refusal(lambda: cases.close(services, case_id, early, actor="frank", today=D("2024-12-05")))
        assert refused.parameter == "respondedOn"
        cases.close(
            services,
            case_id,
            {"respondedOn": "2024-12-05", "deliveredBy": "post"},
            actor="frank",
            today=D("2024-12-05"),
        )
        later = cases.show_case(services, case_id, today=D("2025-03-01")).as_json()
        # 25 December + 4 days stopped (1 to 5 December) is Sunday 29 December: Monday 30
        assert (later["dueOn"], later["answeredInTime"], later["overdue"]) == ("2024-12-30", True, False)

    @pytest.mark.parametrize(
        ("action", "document"),
        [
            (cases.close, {"respondedOn": "2024-12-21", "deliveredBy": "post"}),
            (cases.extend_deadline, {"reason": "complex", "informedOn": "2024-12-21"}),
            (cases.pause, {"reason": "id", "date": "2024-12-21"}),
        ],
    )
    def test_a_closed_case_changes_no_more(self, services, action, document):
        case_id = open_uk(services)["id"]
        cases.close(
            services,
            case_id,
            {"respondedOn": "2024-12-20", "deliveredBy": "post"},
            actor="frank",
            today=D("2024-12-20"),
        )
        refused = refusal(lambda: action(services, case_id, document, actor="frank", today=D("2024-12-21")))
        assert (refused.kind, refused.reason) == ("conflict", "case_closed")
        with pytest.raises(StorageError) as joining:
            add_request(services, case_id, "r-late")
        assert joining.value.reason == "conflict"

    @pytest.mark.parametrize(
        ("document", "parameter", "reason"),
        [
            ({"respondedOn": "2024-11-24", "deliveredBy": "post"}, "respondedOn", "invalid"),
            ({"respondedOn": "2024-12-21", "deliveredBy": "post"}, "respondedOn", "date_in_future"),
            ({"respondedOn": "2024-12-20"}, "deliveredBy", "missing_field"),
        ],
    )
    def test_a_bad_closing_document_is_refused(self, services, document, parameter, reason):
        case_id = open_uk(services)["id"]
        refused = refusal(lambda: cases.close(services, case_id, document, actor="frank", today=D("2024-12-20")))
        assert (refused.parameter, refused.reason) == (parameter, reason)


def test_an_unknown_case_is_not_found(services):
    for call in (
        lambda: cases.show_case(services, "case-none"),
        lambda: cases.pause(services, "case-none", {"reason": "id", "date": "2024-12-01"}, actor="a"),
    ):
        assert refusal(call).kind == "not_found"
