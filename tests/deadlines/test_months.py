"""One calendar month, and three for an extension: the ICO's worked examples."""

from __future__ import annotations

from datetime import date

import pytest

from deadlines import DeadlineError, calendar_months_after


@pytest.mark.parametrize(
    ("start", "one_month_later"),
    [
        (date(2025, 1, 31), date(2025, 2, 28)),  # no 31 February: the month's last day
        (date(2024, 1, 31), date(2024, 2, 29)),  # a leap year
        (date(2024, 11, 30), date(2024, 12, 30)),  # the corresponding date, not the month's end
        (date(2025, 3, 15), date(2025, 4, 15)),
        (date(2025, 3, 31), date(2025, 4, 30)),
        (date(2024, 12, 25), date(2025, 1, 25)),  # across the year
        (date(2024, 2, 29), date(2024, 3, 29)),
    ],
)
def test_one_month_is_the_corresponding_date_of_the_next_month(start: date, one_month_later: date) -> None:
    assert calendar_months_after(start, 1) == one_month_later


@pytest.mark.parametrize(
    ("start", "three_months_later"),
    [
        (date(2024, 11, 25), date(2025, 2, 25)),
        (date(2025, 1, 31), date(2025, 4, 30)),  # not 28 February + 2 months = 28 April
        (date(2023, 11, 30), date(2024, 2, 29)),
        (date(2024, 11, 30), date(2025, 2, 28)),
    ],
)
def test_an_extension_counts_three_months_from_the_start(start: date, three_months_later: date) -> None:
    assert calendar_months_after(start, 3) == three_months_later


def test_a_date_past_the_last_representable_year_is_out_of_range() -> None:
    with pytest.raises(DeadlineError) as refused:
        calendar_months_after(date(9999, 12, 1), 1)
    assert refused.value.reason == "date_out_of_range"
