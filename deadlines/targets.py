"""Target dates for the processors' parts of a data subject request.

EDPB Guidelines 07/2020, §129: the practical handling of a request can be left
to a processor, but the controller stays responsible for it, and the Chapter III
deadlines cannot be extended because a processor must provide the information.
So each processor request gets a target a margin before the case's deadline
(``PROCESSOR_MARGIN_DAYS``, 7 by default), leaving the controller time to put
the answer together. The target is a calendar date, not moved onto a working
day, and never before the clock started; it moves with the deadline when the
clock is stopped or the deadline is extended.
"""

from __future__ import annotations

from datetime import date, timedelta

from deadlines.deadline import Deadline
from deadlines.errors import DeadlineError

DEFAULT_PROCESSOR_MARGIN_DAYS = 7


def target_on(due_on: date, *, counted_from: date, margin_days: int = DEFAULT_PROCESSOR_MARGIN_DAYS) -> date:
    """The rule: ``due_on`` less ``margin_days``, but not before ``counted_from``, the day the clock started."""
    if margin_days < 0:
        raise DeadlineError("invalid_setting")
    return max(due_on - timedelta(days=margin_days), counted_from)


def processor_target(deadline: Deadline, *, margin_days: int = DEFAULT_PROCESSOR_MARGIN_DAYS) -> date:
    """``deadline``'s target (``target_on``): its due date less ``margin_days``, not before the clock started."""
    return target_on(deadline.due_on, counted_from=deadline.counted_from, margin_days=margin_days)


def is_late(target_on: date, *, today: date, ended: bool) -> bool:
    """A processor request is late once ``today`` is past its target and it has not ended."""
    return today > target_on and not ended
