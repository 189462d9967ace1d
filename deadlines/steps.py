"""How a deadline was computed, as data: one ``Step`` per rule applied.

The steps form a chain: each one moves the date from ``from_date`` to ``to_date``
(the first, the receipt, moves nothing). The API returns them as they are and the
console prints ``explain(steps)``, for example::

    received 2024-11-25; + 1 calendar month (UK GDPR Art. 12(3), 12A; ICO) → 2024-12-25;
    bank holiday, Christmas Day (ICO) → 2024-12-26; bank holiday, Boxing Day (ICO) → 2024-12-27
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Rule(StrEnum):
    """Which rule a step applied; the values are stable, for the API and logs."""

    RECEIVED = "received"
    CLOCK_START = "clock_start"
    ONE_MONTH = "one_calendar_month"
    EXTENSION = "three_calendar_months"
    CLOCK_STOPPED = "clock_stopped"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


@dataclass(frozen=True)
class Step:
    """One rule applied: it moved the date from ``from_date`` to ``to_date``."""

    rule: Rule
    source: str
    from_date: date
    to_date: date
    note: str

    def describe(self) -> str:
        if self.from_date == self.to_date:
            return f"{self.note} {self.to_date.isoformat()}"
        return f"{self.note} ({self.source}) → {self.to_date.isoformat()}"


def explain(steps: Iterable[Step]) -> str:
    """The steps as one line of text, for a console or a log."""
    return "; ".join(step.describe() for step in steps)
