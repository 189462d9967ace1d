"""Stopping the clock: paused days move the deadline, counted as the module says."""

from __future__ import annotations

from datetime import date

import pytest

from deadlines import (
    Calendar,
    DeadlineError,
    Extension,
    Pause,
    Rule,
    compute_deadline,
    explain,
    pause_clock,
    paused_days,
    resume_clock,
)

ENGLAND = Calendar.for_jurisdiction("UK")
EU = Calendar.for_jurisdiction("EU")


def due(received_on: date, *pauses: Pause, calendar: Calendar = EU, today: date | None = None) -> date:
    return compute_deadline(received_on=received_on, calendar=calendar, pauses=pauses, today=today).due_on


def refusal(received_on: date, *pauses: Pause, calendar: Calendar = EU, today: date | None = None) -> str:
    with pytest.raises(DeadlineError) as refused:
        compute_deadline(received_on=received_on, calendar=calendar, pauses=pauses, today=today)
    return refused.value.reason


class TestCounting:
    def test_a_pause_counts_the_days_from_asking_to_the_reply(self) -> None:
        assert Pause(date(2024, 11, 28), date(2024, 12, 5)).days(today=None) == 7

    def test_a_pause_resumed_the_day_it_started_counts_nothing(self) -> None:
        assert due(date(2025, 3, 3), Pause(date(2025, 3, 10), date(2025, 3, 10))) == date(2025, 4, 3)

    def test_paused_days_add_up(self) -> None:
        pauses = [Pause(date(2025, 3, 5), date(2025, 3, 8)), Pause(date(2025, 3, 10), date(2025, 3, 12))]
        assert paused_days(pauses, today=None) == 5
        assert due(date(2025, 3, 3), *pauses) == date(2025, 4, 8)

    def test_an_open_pause_counts_up_to_today(self) -> None:
        assert Pause(date(2025, 3, 10)).days(today=date(2025, 3, 20)) == 10

    def test_an_open_pause_without_today_is_an_error_not_zero(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            Pause(date(2025, 3, 10)).days(today=None)
        assert refused.value.reason == "open_pause_needs_today"
        assert refusal(date(2025, 3, 3), Pause(date(2025, 3, 10))) == "open_pause_needs_today"


class TestTheDeadlineMoves:
    def test_paused_days_are_added_before_the_working_day_rule(self) -> None:
        # 25 December + 7 paused days = 1 January, New Year's Day: due 2 January
        deadline = compute_deadline(
            received_on=date(2024, 11, 25),
            calendar=ENGLAND,
            pauses=[Pause(date(2024, 11, 28), date(2024, 12, 5), "clarification")],
        )
        assert (deadline.due_on, deadline.paused_days) == (date(2025, 1, 2), 7)
        assert explain(deadline.steps) == (
            "received 2024-11-25; "
            "+ 1 calendar month (UK GDPR Art. 12(3), 12A; ICO) → 2024-12-25; "
            "+ 7 days, clock stopped 2024-11-28 to 2024-12-05 (UK GDPR Art. 12A) → 2025-01-01; "
            "bank holiday, New Year's Day (ICO) → 2025-01-02"
        )

    def test_without_the_pause_the_holidays_would_have_moved_it_less(self) -> None:
        # unpaused: 27 December; one paused day lands on Boxing Day, which still ends on the 27th
        assert due(date(2024, 11, 25), calendar=ENGLAND) == date(2024, 12, 27)
        one_day = Pause(date(2024, 12, 2), date(2024, 12, 3))
        assert due(date(2024, 11, 25), one_day, calendar=ENGLAND) == date(2024, 12, 27)

    def test_the_projected_deadline_of_a_paused_case_moves_day_by_day(self) -> None:
        paused = Pause(date(2025, 3, 10))
        assert due(date(2025, 3, 3), paused, today=date(2025, 3, 20)) == date(2025, 4, 13)
        assert due(date(2025, 3, 3), paused, today=date(2025, 3, 21)) == date(2025, 4, 14)

    def test_an_open_pause_projects_the_deadline_of_resuming_today(self) -> None:
        today = date(2025, 3, 21)
        open_pause = compute_deadline(
            received_on=date(2025, 3, 3), calendar=ENGLAND, pauses=[Pause(date(2025, 3, 10))], today=today
        )
        resumed_today = compute_deadline(
            received_on=date(2025, 3, 3), calendar=ENGLAND, pauses=[Pause(date(2025, 3, 10), today)]
        )
        assert open_pause.due_on == resumed_today.due_on
        assert open_pause.is_paused and not resumed_today.is_paused
        assert "since 2025-03-10, counted to today" in open_pause.steps[2].note

    def test_pauses_are_taken_in_date_order(self) -> None:
        later, earlier = Pause(date(2025, 3, 10), date(2025, 3, 12)), Pause(date(2025, 3, 5), date(2025, 3, 8))
        deadline = compute_deadline(received_on=date(2025, 3, 3), calendar=EU, pauses=[later, earlier])
        assert deadline.pauses == (earlier, later)

    def test_a_pause_may_start_the_day_the_last_one_ended(self) -> None:
        pauses = (Pause(date(2025, 3, 5), date(2025, 3, 8)), Pause(date(2025, 3, 8), date(2025, 3, 9)))
        assert due(date(2025, 3, 3), *pauses) == date(2025, 4, 7)

    def test_a_pause_on_the_deadline_itself_still_counts(self) -> None:
        assert due(date(2025, 1, 10), Pause(date(2025, 2, 10), date(2025, 2, 12))) == date(2025, 2, 12)

    def test_a_zero_day_pause_on_the_day_another_starts_is_taken_in_either_order(self) -> None:
        """Found by the property that the result depends on nothing but the inputs: the order given mattered."""
        zero, longer = Pause(date(2025, 3, 5), date(2025, 3, 5)), Pause(date(2025, 3, 5), date(2025, 3, 8))
        assert due(date(2025, 3, 3), zero, longer) == due(date(2025, 3, 3), longer, zero) == date(2025, 4, 6)

    def test_zero_day_pauses_leave_no_step(self) -> None:
        deadline = compute_deadline(
            received_on=date(2025, 3, 3), calendar=EU, pauses=[Pause(date(2025, 3, 10), date(2025, 3, 10))]
        )
        assert Rule.CLOCK_STOPPED not in [step.rule for step in deadline.steps]


class TestRefused:
    def test_resume_before_pause(self) -> None:
        assert refusal(date(2025, 3, 3), Pause(date(2025, 3, 10), date(2025, 3, 9))) == "resume_before_pause"

    def test_overlapping_pauses(self) -> None:
        first, second = Pause(date(2025, 3, 5), date(2025, 3, 10)), Pause(date(2025, 3, 9), date(2025, 3, 12))
        assert refusal(date(2025, 3, 3), first, second) == "overlapping_pauses"

    def test_a_pause_after_one_still_open(self) -> None:
        still_open, later = Pause(date(2025, 3, 5)), Pause(date(2025, 3, 9), date(2025, 3, 12))
        assert refusal(date(2025, 3, 3), still_open, later, today=date(2025, 3, 20)) == "overlapping_pauses"

    def test_a_pause_before_the_clock_starts(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            compute_deadline(
                received_on=date(2025, 3, 3),
                calendar=ENGLAND,
                clock_starts_on=date(2025, 3, 10),
                pauses=[Pause(date(2025, 3, 5), date(2025, 3, 6))],
            )
        assert refused.value.reason == "pause_before_clock_start"

    def test_an_open_pause_starting_after_today(self) -> None:
        assert refusal(date(2025, 3, 3), Pause(date(2025, 3, 10)), today=date(2025, 3, 9)) == "pause_after_today"

    def test_a_pause_after_the_deadline_passed(self) -> None:
        assert refusal(date(2025, 1, 10), Pause(date(2025, 2, 11), date(2025, 2, 12))) == "pause_after_deadline"

    def test_a_pause_after_the_deadline_an_earlier_pause_gave(self) -> None:
        # 10 February + 3 paused days = 13 February; a pause on the 14th comes too late
        first, late = Pause(date(2025, 1, 20), date(2025, 1, 23)), Pause(date(2025, 2, 14), date(2025, 2, 15))
        assert due(date(2025, 1, 10), first) == date(2025, 2, 13)
        assert refusal(date(2025, 1, 10), first, late) == "pause_after_deadline"

    def test_a_pause_after_the_first_deadline_counts_once_extended(self) -> None:
        deadline = compute_deadline(
            received_on=date(2025, 1, 10),
            calendar=EU,
            pauses=[Pause(date(2025, 3, 1), date(2025, 3, 6))],
            extension=Extension(date(2025, 2, 1), "many requests"),
        )
        assert (deadline.original_due_on, deadline.due_on, deadline.paused_days) == (
            date(2025, 2, 10),
            date(2025, 4, 15),
            5,
        )


class TestPauseAndResume:
    def test_pause_adds_an_open_pause(self) -> None:
        assert pause_clock((), on=date(2025, 3, 10), reason="identity") == (Pause(date(2025, 3, 10), None, "identity"),)

    def test_resume_closes_the_open_pause(self) -> None:
        pauses = pause_clock((), on=date(2025, 3, 10), reason="identity")
        assert resume_clock(pauses, on=date(2025, 3, 14)) == (Pause(date(2025, 3, 10), date(2025, 3, 14), "identity"),)

    def test_pause_while_paused_is_a_conflict(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            pause_clock((Pause(date(2025, 3, 10)),), on=date(2025, 3, 12), reason="again")
        assert (refused.value.reason, refused.value.is_conflict) == ("already_paused", True)

    def test_resume_while_running_is_a_conflict(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            resume_clock((Pause(date(2025, 3, 10), date(2025, 3, 12)),), on=date(2025, 3, 14))
        assert (refused.value.reason, refused.value.is_conflict) == ("not_paused", True)

    def test_resume_before_the_pause_started(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            resume_clock((Pause(date(2025, 3, 10)),), on=date(2025, 3, 9))
        assert refused.value.reason == "resume_before_pause"

    def test_pause_inside_an_earlier_pause(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            pause_clock((Pause(date(2025, 3, 10), date(2025, 3, 14)),), on=date(2025, 3, 12), reason="late entry")
        assert refused.value.reason == "overlapping_pauses"


class TestStoppedInTheWorkingDayGrace:
    """The month ended on a non-working day and the clock stopped before the working day it moved to."""

    def test_the_issue_example_moves_the_deadline_past_the_restart(self) -> None:
        # UK, received Wed 1 Jan 2020: the month ends Sat 1 Feb, due Mon 3 Feb. Stopped Sun 2 to Tue 4 Feb: one
        # day (Sunday to Monday) was left, so the clock restarts on Tue 4 Feb with it: due Wed 5 Feb.
        assert due(date(2020, 1, 1), calendar=ENGLAND) == date(2020, 2, 3)
        assert due(date(2020, 1, 1), Pause(date(2020, 2, 2), date(2020, 2, 4)), calendar=ENGLAND) == date(2020, 2, 5)

    def test_the_steps_show_the_working_day_the_clock_stopped_before(self) -> None:
        deadline = compute_deadline(
            received_on=date(2020, 1, 1), calendar=ENGLAND, pauses=[Pause(date(2020, 2, 2), date(2020, 2, 4))]
        )
        assert [step.rule for step in deadline.steps][-3:] == [Rule.WEEKEND, Rule.WEEKEND, Rule.CLOCK_STOPPED]
        assert deadline.steps[-1].note == "+ 2 days, clock stopped 2020-02-02 to 2020-02-04"

    def test_an_open_pause_in_the_grace_keeps_the_deadline_ahead_of_today(self) -> None:
        for today in (date(2020, 2, 2), date(2020, 2, 3), date(2020, 2, 10)):
            assert due(date(2020, 1, 1), Pause(date(2020, 2, 2)), calendar=ENGLAND, today=today) > today

    def test_a_pause_on_the_month_date_itself_counts_from_it(self) -> None:
        # received Sun 2 Feb 2020 + 1 month = Mon 2 Mar (a working day): no grace; stopped 2 to 4 March: due 4 March
        assert due(date(2020, 2, 2), Pause(date(2020, 3, 2), date(2020, 3, 4)), calendar=ENGLAND) == date(2020, 3, 4)

    def test_a_pause_after_the_working_day_is_still_after_the_deadline(self) -> None:
        late = Pause(date(2020, 2, 4), date(2020, 2, 6))
        assert refusal(date(2020, 1, 1), late, calendar=ENGLAND) == "pause_after_deadline"
