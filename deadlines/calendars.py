"""Working days: weekends and public holidays, and the move to the next working day.

- **UK** (ICO, time limits for responding): a deadline that falls on a weekend or a
  bank holiday moves to the next working day. Bank holidays are those of England
  and Wales by default (subdivision ``ENG``); ``SCT`` and ``NIR`` give Scotland's
  and Northern Ireland's (``WLS`` is the same as ``ENG``).
- **EU**: no move by default. With a country code the deadline follows Regulation
  (EEC, Euratom) No 1182/71, Art. 3(4): a period whose last day is a public
  holiday, a Saturday or a Sunday ends at the end of the following working day,
  with that country's public holidays.

Holidays come from the ``holidays`` package. Building its calendars is not free,
so each (country, subdivision, ten-year block) is built once and kept as a plain
read-only mapping (``holidays`` objects grow on lookup, which these never do).
Holiday names are asked for in English where the package has them, so the text
does not depend on the machine's locale.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

import holidays

from deadlines import sources
from deadlines.errors import DeadlineError
from deadlines.steps import Rule, Step

UK_COUNTRY = "GB"
DEFAULT_UK_SUBDIVISION = "ENG"

_ONE_DAY = timedelta(days=1)
_BLOCK_YEARS = 10
_ENGLISH = ("en_GB", "en_US")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Jurisdiction(StrEnum):
    """Whose law sets the deadline: the EU GDPR or the UK GDPR."""

    EU = "EU"
    UK = "UK"

    @classmethod
    def parse(cls, value: str) -> Jurisdiction:
        try:
            return cls(value)
        except ValueError:
            raise DeadlineError("unknown_jurisdiction") from None


@dataclass(frozen=True)
class Calendar:
    """The working days a jurisdiction's deadlines are moved onto.

    ``country`` is a ``holidays`` country code and ``subdivision`` one of its
    subdivisions; with no country the deadline is never moved (the EU default).
    Prefer ``Calendar.for_jurisdiction``, which knows each jurisdiction's settings.
    """

    jurisdiction: Jurisdiction
    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "jurisdiction", Jurisdiction.parse(self.jurisdiction))
        _check_calendar(self.jurisdiction, self.country, self.subdivision)

    @classmethod
    def for_jurisdiction(
        cls,
        jurisdiction: str,
        *,
        uk_subdivision: str = DEFAULT_UK_SUBDIVISION,
        eu_country: str | None = None,
    ) -> Calendar:
        """The calendar for ``jurisdiction``; each setting applies to its own jurisdiction only.

        A caller can pass both settings for every case: ``uk_subdivision`` (``ENG``,
        ``SCT``, ``NIR``) is used for UK cases, ``eu_country`` (``DE``, ``FR``, ...,
        or ``None`` for no move) for EU cases.
        """
        parsed = Jurisdiction.parse(jurisdiction)
        if parsed is Jurisdiction.UK:
            return cls(parsed, UK_COUNTRY, uk_subdivision)
        return cls(parsed, eu_country, None)

    @property
    def moves_to_working_day(self) -> bool:
        return self.country is not None

    @property
    def holiday_kind(self) -> str:
        return "bank holiday" if self.jurisdiction is Jurisdiction.UK else "public holiday"

    @property
    def source(self) -> str:
        """The rule that moves a deadline onto a working day in this jurisdiction."""
        if self.jurisdiction is Jurisdiction.UK:
            return sources.UK_NEXT_WORKING_DAY
        return sources.EU_NEXT_WORKING_DAY

    def holiday_name(self, day: date) -> str | None:
        """The public holiday on ``day``, if any; never one for a calendar without a country."""
        if self.country is None:
            return None
        return _holidays(self.country, self.subdivision, day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def to_working_day(self, day: date) -> tuple[Step, ...]:
        """The steps that move ``day`` to the next working day, one per day skipped.

        None when ``day`` is a working day already, or when this calendar does not move
        deadlines at all. The last step's ``to_date`` is the working day.
        """
        steps: list[Step] = []
        while self.moves_to_working_day and (step := self._skip(day)) is not None:
            steps.append(step)
            day = step.to_date
        return tuple(steps)

    def _skip(self, day: date) -> Step | None:
        name = self.holiday_name(day)
        if name is not None:
            rule, note = Rule.HOLIDAY, f"{self.holiday_kind}, {name}"
        elif day.weekday() >= 5:
            rule, note = Rule.WEEKEND, f"weekend, {_WEEKDAYS[day.weekday()]}"
        else:
            return None
        return Step(rule, self.source, day, day + _ONE_DAY, note)


class _CountryInfo(NamedTuple):
    first_year: int
    last_year: int
    language: str | None  # None: the calendar's own default


def _check_calendar(jurisdiction: Jurisdiction, country: str | None, subdivision: str | None) -> None:
    if jurisdiction is Jurisdiction.UK and (country != UK_COUNTRY or subdivision is None):
        raise DeadlineError("invalid_setting")
    if country is None and subdivision is not None:
        raise DeadlineError("invalid_setting")
    if country is not None:
        _country_info(country, subdivision)


@functools.cache
def _country_info(country: str, subdivision: str | None) -> _CountryInfo:
    """The years and the language of a country's holidays; ``invalid_setting`` for an unknown one."""
    try:
        empty = holidays.country_holidays(country, subdiv=subdivision, years=(), expand=False)
    except NotImplementedError:
        raise DeadlineError("invalid_setting") from None
    if subdivision is not None and subdivision not in empty.subdivisions:
        raise DeadlineError("invalid_setting")  # an alias such as "Scotland": only the codes are settings
    language = next((name for name in _ENGLISH if name in empty.supported_languages), empty.default_language)
    return _CountryInfo(empty.start_year, empty.end_year, language)


def _holidays(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    info = _country_info(country, subdivision)
    if not info.first_year <= year <= info.last_year:
        raise DeadlineError("date_out_of_range")
    return _holidays_in_block(country, subdivision, year - year % _BLOCK_YEARS)


@functools.lru_cache(maxsize=256)
def _holidays_in_block(country: str, subdivision: str | None, first_year: int) -> Mapping[date, str]:
    info = _country_info(country, subdivision)
    years = range(max(first_year, info.first_year), min(first_year + _BLOCK_YEARS, info.last_year + 1))
    built = holidays.country_holidays(country, subdiv=subdivision, years=years, expand=False, language=info.language)
    return MappingProxyType(dict(built))
