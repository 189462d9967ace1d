"""Days left, overdue, and the reminder thresholds reached."""

from __future__ import annotations

from datetime import date

import pytest

from deadlines import DEFAULT_NOTIFY_DAYS, DeadlineError, days_left, is_overdue, thresholds_reached

DUE = date(2024, 12, 27)


@pytest.mark.parametrize(
    ("today", "left", "overdue"),
    [
        (date(2024, 12, 20), 7, False),
        (date(2024, 12, 27), 0, False),  # the deadline is met by answering on the day
        (date(2024, 12, 28), -1, True),
        (date(2025, 1, 6), -10, True),
    ],
)
def test_days_left_and_overdue(today: date, left: int, overdue: bool) -> None:
    assert (days_left(DUE, today=today), is_overdue(DUE, today=today)) == (left, overdue)


@pytest.mark.parametrize(
    ("today", "reached"),
    [
        (date(2024, 12, 19), ()),  # 8 days left
        (date(2024, 12, 20), (7,)),
        (date(2024, 12, 22), (7,)),
        (date(2024, 12, 24), (7, 3)),
        (date(2024, 12, 26), (7, 3, 1)),
        (date(2024, 12, 27), (7, 3, 1)),
        (date(2024, 12, 28), ()),  # overdue is its own event
    ],
)
def test_the_thresholds_reached(today: date, reached: tuple[int, ...]) -> None:
    assert DEFAULT_NOTIFY_DAYS == (7, 3, 1)
    assert thresholds_reached(DUE, today=today) == reached


def test_thresholds_are_a_setting_in_any_order() -> None:
    assert thresholds_reached(DUE, today=date(2024, 12, 17), thresholds=[2, 14, 10, 10]) == (14, 10)


@pytest.mark.parametrize("thresholds", [(7, -1), (7, 2.5), (True,)])
def test_invalid_thresholds_are_refused(thresholds: tuple[object, ...]) -> None:
    with pytest.raises(DeadlineError) as refused:
        thresholds_reached(DUE, today=date(2024, 12, 20), thresholds=thresholds)  # type: ignore[arg-type]
    assert refused.value.reason == "invalid_setting"
