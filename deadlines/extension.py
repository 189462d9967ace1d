"""Extending the time limit by two further months.

GDPR Art. 12(3) (and UK GDPR Art. 12A): the period "may be extended by two
further months where necessary, taking into account the complexity and number of
the requests", and the controller "shall inform the data subject of any such
extension within one month of receipt of the request, together with the reasons
for the delay". So an extension

- is allowed once: two further months, not two more each time;
- needs the reason the data subject was given;
- must be announced by the first deadline: the day the subject was informed is
  no later than the first deadline (which already counts the paused days and
  the working-day move), and can only be decided while that deadline has not
  passed: on the deadline itself it still can be.

The extended deadline is three calendar months from the start of the clock (see
``deadlines.months``), with the same pauses and working-day rule as the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from deadlines.errors import DeadlineError

if TYPE_CHECKING:
    from deadlines.deadline import Deadline


@dataclass(frozen=True)
class Extension:
    """The deadline extended by two further months; the data subject was told on ``informed_on`` why."""

    informed_on: date
    reason: str


def check_extension(extension: Extension, *, received_on: date, first_due_on: date) -> None:
    """Refuse an extension the data subject was not told about, with a reason, in time."""
    if not extension.reason.strip():
        raise DeadlineError("extension_needs_reason")
    if extension.informed_on < received_on:
        raise DeadlineError("informed_before_receipt")
    if extension.informed_on > first_due_on:
        raise DeadlineError("informed_after_first_deadline")


def check_extension_allowed(deadline: Deadline, extension: Extension, *, today: date) -> None:
    """Whether ``deadline`` may be extended today; returns nothing, or raises ``DeadlineError``.

    ``already_extended`` and ``first_deadline_passed`` are conflicts (HTTP 409); the
    checks of ``check_extension`` apply as well.
    """
    if deadline.extension is not None:
        raise DeadlineError("already_extended")
    if today > deadline.original_due_on:
        raise DeadlineError("first_deadline_passed")
    check_extension(extension, received_on=deadline.received_on, first_due_on=deadline.original_due_on)
