"""Extension by two further months: once, with a reason, announced within the first deadline."""

from __future__ import annotations

from datetime import date

import pytest

from deadlines import (
    Calendar,
    Deadline,
    DeadlineError,
    Extension,
    Pause,
    Rule,
    check_extension_allowed,
    compute_deadline,
    explain,
)

ENGLAND = Calendar.for_jurisdiction("UK")
EU = Calendar.for_jurisdiction("EU")
COMPLEX = Extension(date(2024, 12, 2), "complex request across six systems")


def extended(received_on: date, calendar: Calendar = ENGLAND, **inputs: object) -> Deadline:
    return compute_deadline(received_on=received_on, calendar=calendar, **inputs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("received_on", "calendar", "informed_on", "original_due_on", "due_on"),
    [
        # three months from 25 November 2024 is Tuesday 25 February 2025, a working day
        (date(2024, 11, 25), ENGLAND, date(2024, 12, 2), date(2024, 12, 27), date(2025, 2, 25)),
        # three months from the start, not two from the first deadline: 30 April, not 28 April
        (date(2025, 1, 31), ENGLAND, date(2025, 2, 10), date(2025, 2, 28), date(2025, 4, 30)),
        (date(2025, 1, 31), EU, date(2025, 2, 10), date(2025, 2, 28), date(2025, 4, 30)),
        # three months from 15 March 2025 is Sunday 15 June: Monday in the UK, Sunday in the EU
        (date(2025, 3, 15), ENGLAND, date(2025, 3, 20), date(2025, 4, 15), date(2025, 6, 16)),
        (date(2025, 3, 15), EU, date(2025, 3, 20), date(2025, 4, 15), date(2025, 6, 15)),
    ],
)
def test_the_extended_deadline_is_three_calendar_months_from_the_start(
    received_on: date, calendar: Calendar, informed_on: date, original_due_on: date, due_on: date
) -> None:
    deadline = extended(received_on, calendar, extension=Extension(informed_on, "complex"))
    assert (deadline.original_due_on, deadline.due_on, deadline.is_extended) == (original_due_on, due_on, True)


def test_the_extension_is_counted_from_the_uk_clock_start() -> None:
    notice = Extension(date(2025, 2, 3), "complex")
    deadline = extended(date(2025, 1, 20), clock_starts_on=date(2025, 1, 31), extension=notice)
    assert (deadline.original_due_on, deadline.due_on) == (date(2025, 2, 28), date(2025, 4, 30))


def test_paused_days_move_the_extended_deadline_too() -> None:
    deadline = extended(date(2024, 11, 25), pauses=[Pause(date(2024, 11, 28), date(2024, 12, 5))], extension=COMPLEX)
    # 25 February + 7 = Tuesday 4 March 2025; the first deadline moves with it (2 January)
    assert (deadline.due_on, deadline.original_due_on, deadline.paused_days) == (
        date(2025, 3, 4),
        date(2025, 1, 2),
        7,
    )


def test_both_computations_are_kept() -> None:
    deadline = extended(date(2024, 11, 25), extension=COMPLEX)
    assert explain(deadline.steps) == (
        "received 2024-11-25; + 3 calendar months, extended by two further months (UK GDPR Art. 12A; ICO) → 2025-02-25"
    )
    assert deadline.original_steps[-1].to_date == date(2024, 12, 27)
    assert [step.rule for step in deadline.steps] == [Rule.RECEIVED, Rule.EXTENSION]


class TestWhenAnExtensionIsAllowed:
    def test_before_the_first_deadline(self) -> None:
        current = extended(date(2024, 11, 25))
        check_extension_allowed(current, COMPLEX, today=date(2024, 12, 2))

    def test_on_the_first_deadline_itself(self) -> None:
        current = extended(date(2024, 11, 25))
        on_the_day = Extension(date(2024, 12, 27), "complex")
        check_extension_allowed(current, on_the_day, today=date(2024, 12, 27))

    def test_not_after_the_first_deadline(self) -> None:
        current = extended(date(2024, 11, 25))
        with pytest.raises(DeadlineError) as refused:
            check_extension_allowed(current, COMPLEX, today=date(2024, 12, 28))
        assert (refused.value.reason, refused.value.is_conflict) == ("first_deadline_passed", True)

    def test_not_twice(self) -> None:
        current = extended(date(2024, 11, 25), extension=COMPLEX)
        with pytest.raises(DeadlineError) as refused:
            check_extension_allowed(current, Extension(date(2024, 12, 3), "still complex"), today=date(2024, 12, 3))
        assert (refused.value.reason, refused.value.is_conflict) == ("already_extended", True)

    def test_a_pause_lengthens_the_month_to_announce_it_in(self) -> None:
        # unpaused, the first deadline is 10 February; 5 paused days make it 15 February
        paused = extended(date(2025, 1, 10), EU, pauses=[Pause(date(2025, 1, 15), date(2025, 1, 20))])
        late_notice = Extension(date(2025, 2, 14), "complex")
        check_extension_allowed(paused, late_notice, today=date(2025, 2, 14))
        assert extended(date(2025, 1, 10), EU, pauses=paused.pauses, extension=late_notice).due_on == date(2025, 4, 15)


class TestTheNotice:
    @pytest.mark.parametrize("reason", ["", "   "])
    def test_needs_a_reason(self, reason: str) -> None:
        with pytest.raises(DeadlineError) as refused:
            extended(date(2024, 11, 25), extension=Extension(date(2024, 12, 2), reason))
        assert (refused.value.reason, refused.value.is_conflict) == ("extension_needs_reason", False)

    def test_is_not_before_receipt(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            extended(date(2024, 11, 25), extension=Extension(date(2024, 11, 24), "complex"))
        assert refused.value.reason == "informed_before_receipt"

    def test_is_no_later_than_the_first_deadline(self) -> None:
        with pytest.raises(DeadlineError) as refused:
            extended(date(2024, 11, 25), extension=Extension(date(2024, 12, 28), "complex"))
        assert (refused.value.reason, refused.value.is_conflict) == ("informed_after_first_deadline", True)

    def test_is_checked_when_allowing_it_too(self) -> None:
        current = extended(date(2024, 11, 25))
        with pytest.raises(DeadlineError) as refused:
            check_extension_allowed(current, Extension(date(2024, 12, 28), "complex"), today=date(2024, 12, 20))
        assert refused.value.reason == "informed_after_first_deadline"
