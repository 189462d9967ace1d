"""How urgent a case is today: days left, overdue, and reminder thresholds reached.

A deadline is met by answering on ``due_on`` itself: the period ends at the end
of that day (Regulation 1182/71 Art. 3(2)(c); the ICO's "until the corresponding
calendar date"). A case is overdue from the day after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from deadlines.errors import DeadlineError

#: Days before the deadline at which a reminder is due (``NOTIFY_DAYS_BEFORE``).
DEFAULT_NOTIFY_DAYS: tuple[int, ...] = (7, 3, 1)


def days_left(due_on: date, *, today: date) -> int:
    """Whole days until ``due_on``: 0 on the day itself, negative once overdue."""
    return (due_on - today).days


def is_overdue(due_on: date, *, today: date) -> bool:
    return today > due_on


def thresholds_reached(
    due_on: date, *, today: date, thresholds: Iterable[int] = DEFAULT_NOTIFY_DAYS
) -> tuple[int, ...]:
    """The thresholds (days before ``due_on``) that ``today`` has reached, largest first.

    With thresholds 7, 3, 1: five days left gives (7,), two days left (7, 3), the day
    itself (7, 3, 1). An overdue case reaches none: being overdue is its own event.
    A reminder sender sends each (case, threshold) once, so one that was not running
    for a while still sends every threshold passed meanwhile, or only the smallest.
    """
    limits = tuple(thresholds)
    if any(isinstance(limit, bool) or not isinstance(limit, int) or limit < 0 for limit in limits):
        raise DeadlineError("invalid_setting")
    left = days_left(due_on, today=today)
    if left < 0:
        return ()
    return tuple(sorted({limit for limit in limits if left <= limit}, reverse=True))
