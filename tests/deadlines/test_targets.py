"""Processor targets: the deadline less a margin, never before the clock started."""

from __future__ import annotations

from datetime import date

import pytest

from deadlines import (
    DEFAULT_PROCESSOR_MARGIN_DAYS,
    Calendar,
    DeadlineError,
    Extension,
    Pause,
    compute_deadline,
    is_late,
    processor_target,
)
from deadlines import target_on as target_of_dates

ENGLAND = Calendar.for_jurisdiction("UK")


def test_the_default_margin_is_a_week() -> None:
    assert DEFAULT_PROCESSOR_MARGIN_DAYS == 7
    deadline = compute_deadline(received_on=date(2024, 11, 25), calendar=ENGLAND)
    assert processor_target(deadline) == date(2024, 12, 20)


@pytest.mark.parametrize(("margin_days", "target_on"), [(0, date(2024, 12, 27)), (14, date(2024, 12, 13))])
def test_the_margin_is_a_setting(margin_days: int, target_on: date) -> None:
    deadline = compute_deadline(received_on=date(2024, 11, 25), calendar=ENGLAND)
    assert processor_target(deadline, margin_days=margin_days) == target_on


def test_never_before_the_clock_started() -> None:
    deadline = compute_deadline(received_on=date(2025, 1, 31), calendar=ENGLAND, clock_starts_on=date(2025, 2, 3))
    assert processor_target(deadline, margin_days=40) == date(2025, 2, 3)


def test_the_target_moves_with_an_extension_and_a_pause() -> None:
    deadline = compute_deadline(
        received_on=date(2024, 11, 25),
        calendar=ENGLAND,
        pauses=[Pause(date(2024, 11, 28), date(2024, 12, 5))],
        extension=Extension(date(2024, 12, 2), "complex"),
    )
    assert processor_target(deadline) == date(2025, 2, 25)  # 4 March less 7 days


def test_the_rule_on_dates_alone_is_the_deadlines() -> None:
    """``target_on`` is the rule on the dates a stored case keeps: ``processor_target`` of a deadline uses it."""
    deadline = compute_deadline(received_on=date(2025, 1, 31), calendar=ENGLAND, clock_starts_on=date(2025, 2, 3))
    for margin in (0, 7, 40):
        by_dates = target_of_dates(deadline.due_on, counted_from=date(2025, 2, 3), margin_days=margin)
        assert by_dates == processor_target(deadline, margin_days=margin)
    assert target_of_dates(date(2024, 12, 27), counted_from=date(2024, 11, 25)) == date(2024, 12, 20)
    with pytest.raises(DeadlineError):
        target_of_dates(date(2024, 12, 27), counted_from=date(2024, 11, 25), margin_days=-1)


def test_a_negative_margin_is_refused() -> None:
    deadline = compute_deadline(received_on=date(2024, 11, 25), calendar=ENGLAND)
    with pytest.raises(DeadlineError) as refused:
        processor_target(deadline, margin_days=-1)
    assert refused.value.reason == "invalid_setting"


@pytest.mark.parametrize(
    ("today", "ended", "late"),
    [
        (date(2024, 12, 19), False, False),
        (date(2024, 12, 20), False, False),  # on the target is still on time
        (date(2024, 12, 21), False, True),
        (date(2024, 12, 21), True, False),  # an ended request is never late
    ],
)
def test_a_request_is_late_once_past_its_target_and_not_ended(today: date, ended: bool, late: bool) -> None:
    assert is_late(date(2024, 12, 20), today=today, ended=ended) is late
