"""Deadlines from the sources' own worked examples, and how each was computed."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from deadlines import Calendar, DeadlineError, Pause, Rule, compute_deadline, explain

ENGLAND = Calendar.for_jurisdiction("UK")
SCOTLAND = Calendar.for_jurisdiction("UK", uk_subdivision="SCT")
NORTHERN_IRELAND = Calendar.for_jurisdiction("UK", uk_subdivision="NIR")
EU = Calendar.for_jurisdiction("EU")
GERMANY = Calendar.for_jurisdiction("EU", eu_country="DE")
FRANCE = Calendar.for_jurisdiction("EU", eu_country="FR")
NETHERLANDS = Calendar.for_jurisdiction("EU", eu_country="NL")


@pytest.mark.parametrize(
    ("received_on", "calendar", "due_on"),
    [
        # one calendar month, the same in both jurisdictions when it lands on a working day
        (date(2025, 1, 31), EU, date(2025, 2, 28)),
        (date(2025, 1, 31), ENGLAND, date(2025, 2, 28)),
        (date(2024, 1, 31), EU, date(2024, 2, 29)),
        (date(2024, 11, 30), ENGLAND, date(2024, 12, 30)),
        (date(2025, 3, 15), EU, date(2025, 4, 15)),
        # the ICO's example: 25 December is Christmas Day, 26 December Boxing Day
        (date(2024, 11, 25), ENGLAND, date(2024, 12, 27)),
        (date(2024, 11, 25), EU, date(2024, 12, 25)),
        # Saturday 10 May 2025 → Monday 12 May in the UK; the EU default does not move
        (date(2025, 4, 10), ENGLAND, date(2025, 5, 12)),
        (date(2025, 4, 10), EU, date(2025, 5, 10)),
        # Easter Monday 21 April 2025: a bank holiday in England, not in Scotland
        (date(2025, 3, 21), ENGLAND, date(2025, 4, 22)),
        (date(2025, 3, 21), SCOTLAND, date(2025, 4, 21)),
        # 2 January: a bank holiday in Scotland only
        (date(2024, 12, 2), ENGLAND, date(2025, 1, 2)),
        (date(2024, 12, 2), SCOTLAND, date(2025, 1, 3)),
        # St Andrew's Day fell on Saturday 30 November 2024; Scotland's substitute was Monday 2 December
        (date(2024, 11, 2), ENGLAND, date(2024, 12, 2)),
        (date(2024, 11, 2), SCOTLAND, date(2024, 12, 3)),
        # St Patrick's Day substitute (Monday 17 March 2025) in Northern Ireland only
        (date(2025, 2, 17), NORTHERN_IRELAND, date(2025, 3, 18)),
        (date(2025, 2, 17), ENGLAND, date(2025, 3, 17)),
        # EU: no move by default; with a country, Regulation 1182/71 Art. 3(4)
        (date(2024, 9, 3), EU, date(2024, 10, 3)),
        (date(2024, 9, 3), GERMANY, date(2024, 10, 4)),  # German Unity Day
        (date(2024, 9, 3), FRANCE, date(2024, 10, 3)),
        (date(2025, 6, 14), FRANCE, date(2025, 7, 15)),  # 14 July
        (date(2025, 4, 5), NETHERLANDS, date(2025, 5, 6)),  # Liberation Day 2025
        (date(2025, 4, 10), GERMANY, date(2025, 5, 12)),  # a Saturday
    ],
)
def test_worked_examples(received_on: date, calendar: Calendar, due_on: date) -> None:
    assert compute_deadline(received_on=received_on, calendar=calendar).due_on == due_on


def test_the_ico_example_explains_itself() -> None:
    deadline = compute_deadline(received_on=date(2024, 11, 25), calendar=ENGLAND)
    assert explain(deadline.steps) == (
        "received 2024-11-25; "
        "+ 1 calendar month (UK GDPR Art. 12(3), 12A; ICO) → 2024-12-25; "
        "bank holiday, Christmas Day (ICO) → 2024-12-26; "
        "bank holiday, Boxing Day (ICO) → 2024-12-27"
    )
    assert [step.rule for step in deadline.steps] == [Rule.RECEIVED, Rule.ONE_MONTH, Rule.HOLIDAY, Rule.HOLIDAY]


def test_the_steps_form_a_chain_ending_on_the_deadline() -> None:
    deadline = compute_deadline(
        received_on=date(2025, 3, 1),
        calendar=ENGLAND,
        clock_starts_on=date(2025, 3, 18),
        pauses=[Pause(date(2025, 3, 20), date(2025, 3, 21))],
    )
    steps = deadline.steps
    assert all(earlier.to_date == later.from_date for earlier, later in itertools.pairwise(steps))
    assert steps[-1].to_date == deadline.due_on == date(2025, 4, 22)


def test_without_extension_the_deadline_is_the_first_one() -> None:
    deadline = compute_deadline(received_on=date(2024, 11, 25), calendar=ENGLAND)
    assert deadline.original_due_on == deadline.due_on
    assert deadline.original_steps == deadline.steps
    assert (deadline.is_extended, deadline.is_paused, deadline.paused_days) == (False, False, 0)


class TestClockStart:
    def test_the_eu_clock_starts_on_receipt(self) -> None:
        deadline = compute_deadline(received_on=date(2025, 1, 31), calendar=EU)
        assert deadline.counted_from == date(2025, 1, 31)

    def test_the_uk_clock_can_start_when_identity_is_confirmed(self) -> None:
        deadline = compute_deadline(received_on=date(2025, 1, 31), calendar=ENGLAND, clock_starts_on=date(2025, 2, 3))
        assert (deadline.counted_from, deadline.due_on) == (date(2025, 2, 3), date(2025, 3, 3))
        assert deadline.steps[1].rule is Rule.CLOCK_START
        assert deadline.steps[1].source == "UK GDPR Art. 12A"

    def test_a_clock_start_on_receipt_adds_no_step(self) -> None:
        deadline = compute_deadline(received_on=date(2025, 1, 31), calendar=ENGLAND, clock_starts_on=date(2025, 1, 31))
        assert [step.rule for step in deadline.steps] == [Rule.RECEIVED, Rule.ONE_MONTH]

    def test_the_clock_cannot_start_before_receipt(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            compute_deadline(received_on=date(2025, 1, 31), calendar=ENGLAND, clock_starts_on=date(2025, 1, 30))
        assert refused.value.reason == "clock_start_before_receipt"

    def test_a_later_clock_start_is_uk_only(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            compute_deadline(received_on=date(2025, 1, 31), calendar=EU, clock_starts_on=date(2025, 2, 3))
        assert refused.value.reason == "clock_start_uk_only"


def test_a_deadline_beyond_the_holiday_calendar_is_refused() -> None:
    with pytest.raises(DeadlineError) as refused:
        compute_deadline(received_on=date(2100, 12, 15), calendar=ENGLAND)
    assert refused.value.reason == "date_out_of_range"


def test_the_eu_default_needs_no_holiday_calendar_at_all() -> None:
    assert compute_deadline(received_on=date(2100, 12, 15), calendar=EU).due_on == date(2101, 1, 15)
