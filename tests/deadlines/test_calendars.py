"""Calendars: which days are working days, and the steps to the next one."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import deadlines
from deadlines import Calendar, DeadlineError, Jurisdiction, Rule
from deadlines.calendars import _holidays_in_block


def test_the_uk_default_is_england_and_wales() -> None:
    calendar = Calendar.for_jurisdiction("UK")
    assert (calendar.jurisdiction, calendar.country, calendar.subdivision) == (Jurisdiction.UK, "GB", "ENG")
    assert calendar.moves_to_working_day


def test_the_eu_default_never_moves_a_deadline() -> None:
    calendar = Calendar.for_jurisdiction("EU")
    assert (calendar.country, calendar.moves_to_working_day) == (None, False)
    assert calendar.to_working_day(date(2024, 12, 25)) == ()


def test_each_setting_applies_to_its_own_jurisdiction_only() -> None:
    settings = {"uk_subdivision": "SCT", "eu_country": "DE"}
    assert Calendar.for_jurisdiction("UK", **settings) == Calendar(Jurisdiction.UK, "GB", "SCT")
    assert Calendar.for_jurisdiction("EU", **settings) == Calendar(Jurisdiction.EU, "DE", None)


@pytest.mark.parametrize(
    ("jurisdiction", "settings", "reason"),
    [
        ("US", {}, "unknown_jurisdiction"),
        ("uk", {}, "unknown_jurisdiction"),
        ("UK", {"uk_subdivision": "XX"}, "invalid_setting"),
        ("EU", {"eu_country": "ZZ"}, "invalid_setting"),
    ],
)
def test_unknown_settings_are_refused(jurisdiction: str, settings: dict[str, str], reason: str) -> None:
    with pytest.raises(DeadlineError) as refused:
        Calendar.for_jurisdiction(jurisdiction, **settings)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("jurisdiction", "country", "subdivision"),
    [("UK", "DE", "BY"), ("UK", "GB", None), ("EU", None, "BY")],
)
def test_inconsistent_calendars_are_refused(jurisdiction: str, country: str | None, subdivision: str | None) -> None:
    with pytest.raises(DeadlineError) as refused:
        Calendar(Jurisdiction(jurisdiction), country, subdivision)
    assert refused.value.reason == "invalid_setting"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2024, 12, 24), True),
        (date(2024, 12, 25), False),  # Christmas Day
        (date(2024, 12, 28), False),  # Saturday
        (date(2025, 4, 21), False),  # Easter Monday
        (date(2025, 1, 2), True),  # a bank holiday in Scotland only
    ],
)
def test_working_days_in_england(england: Calendar, day: date, working: bool) -> None:
    assert england.is_working_day(day) is working


def test_a_move_is_one_step_per_day_skipped_with_its_name(england: Calendar) -> None:
    steps = england.to_working_day(date(2025, 4, 18))
    assert [(step.rule, step.note, step.to_date) for step in steps] == [
        (Rule.HOLIDAY, "bank holiday, Good Friday", date(2025, 4, 19)),
        (Rule.WEEKEND, "weekend, Saturday", date(2025, 4, 20)),
        (Rule.WEEKEND, "weekend, Sunday", date(2025, 4, 21)),
        (Rule.HOLIDAY, "bank holiday, Easter Monday", date(2025, 4, 22)),
    ]
    assert {step.source for step in steps} == {"ICO"}


def test_an_eu_country_moves_by_regulation_1182_71() -> None:
    germany = Calendar.for_jurisdiction("EU", eu_country="DE")
    (step,) = germany.to_working_day(date(2024, 10, 3))
    assert (step.note, step.source) == (
        "public holiday, German Unity Day",
        "Reg. (EEC, Euratom) 1182/71 Art. 3(4)",
    )


def test_a_working_day_needs_no_step(england: Calendar) -> None:
    assert england.to_working_day(date(2024, 12, 27)) == ()


def test_a_year_the_holiday_calendar_does_not_know_is_out_of_range(england: Calendar) -> None:
    with pytest.raises(DeadlineError) as refused:
        england.is_working_day(date(2101, 1, 3))
    assert refused.value.reason == "date_out_of_range"


def test_holidays_are_built_once_per_ten_years(england: Calendar) -> None:
    england.holiday_name(date(2031, 5, 5))
    before = _holidays_in_block.cache_info()
    for day in (date(2030, 1, 1), date(2035, 6, 1), date(2039, 12, 31)):
        england.holiday_name(day)
    after = _holidays_in_block.cache_info()
    assert (after.misses, after.hits) == (before.misses, before.hits + 3)


def test_holiday_names_do_not_depend_on_the_locale() -> None:
    code = (
        "from datetime import date; from deadlines import Calendar; "
        "print(Calendar.for_jurisdiction('EU', eu_country='DE').holiday_name(date(2024, 10, 3)))"
    )
    project = str(Path(deadlines.__file__).resolve().parent.parent)
    environment = {"LANGUAGE": "de", "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8", "PYTHONPATH": project}
    shown = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "German Unity Day"
