"""Stopping the clock: pauses while the controller waits for the data subject.

UK GDPR Art. 12A (and, for identity checks and clarification under the EU GDPR, EDPB
Guidelines 01/2022): the days spent waiting for information the controller asked for do not
count. The paused days are added to the calendar-month date, and the working-day rule applies
afterwards; a pause that starts in the working-day grace adds its days to the working day the
deadline had moved to (``deadlines.deadline``), so the deadline is never before the day the
clock restarts.

How paused days are counted:

- a pause from ``started_on`` to ``resumed_on`` counts ``resumed_on - started_on`` days (the
  day asked is paused, the day answered runs): the shorter of the two readings DPA 2018
  s.54(3C) allows, so the deadline is never the later one;
- an open pause counts up to ``today``; counting one without ``today`` is an error
  (``open_pause_needs_today``), never a silent zero;
- pauses may not overlap, at most the last one may be open, and none starts before the clock
  does or after the deadline it would move (checked by ``compute_deadline``).

The reasoning in full: docs/deadlines.md, "How stopped days are counted".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from deadlines.errors import DeadlineError


@dataclass(frozen=True)
class Pause:
    """The clock stopped on ``started_on`` and, unless still stopped, resumed on ``resumed_on``."""

    started_on: date
    resumed_on: date | None = None
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.resumed_on is None

    def days(self, *, today: date | None) -> int:
        """The days this pause adds to the deadline (see the module's counting rule)."""
        end = self.resumed_on if self.resumed_on is not None else today
        if end is None:
            raise DeadlineError("open_pause_needs_today")
        return (end - self.started_on).days


def paused_days(pauses: Iterable[Pause], *, today: date | None) -> int:
    """All the days ``pauses`` add, an open pause counted up to ``today``."""
    return sum(pause.days(today=today) for pause in pauses)


def checked_pauses(pauses: Iterable[Pause], *, counted_from: date, today: date | None) -> tuple[Pause, ...]:
    """``pauses`` in date order, or a ``DeadlineError`` for one that cannot be right.

    Pauses starting on the same day are ordered by their end, an open one last, so that the
    verdict never depends on the order they were given in: a pause stopped and resumed on the
    day another starts does not overlap it, whichever came first in the list.
    """
    ordered = tuple(sorted(pauses, key=_in_date_order))
    for pause in ordered:
        _check_pause(pause, counted_from=counted_from, today=today)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.resumed_on is None or later.started_on < earlier.resumed_on:
            raise DeadlineError("overlapping_pauses")
    return ordered


def _in_date_order(pause: Pause) -> tuple[date, bool, date]:
    return pause.started_on, pause.resumed_on is None, pause.resumed_on or pause.started_on


def _check_pause(pause: Pause, *, counted_from: date, today: date | None) -> None:
    if pause.started_on < counted_from:
        raise DeadlineError("pause_before_clock_start")
    if pause.resumed_on is not None and pause.resumed_on < pause.started_on:
        raise DeadlineError("resume_before_pause")
    if pause.is_open and today is None:
        raise DeadlineError("open_pause_needs_today")
    if pause.is_open and today is not None and pause.started_on > today:
        raise DeadlineError("pause_after_today")


def pause_clock(pauses: Sequence[Pause], *, on: date, reason: str) -> tuple[Pause, ...]:
    """``pauses`` with a new open pause from ``on``; ``already_paused`` while one is open.

    Whether the case's clock may stop on that day (not before it starts, not after
    its deadline) is ``compute_deadline``'s to say, on the returned pauses.
    """
    if any(pause.is_open for pause in pauses):
        raise DeadlineError("already_paused")
    if any(pause.resumed_on is not None and on < pause.resumed_on for pause in pauses):
        raise DeadlineError("overlapping_pauses")
    return (*pauses, Pause(on, None, reason))


def resume_clock(pauses: Sequence[Pause], *, on: date) -> tuple[Pause, ...]:
    """``pauses`` with the open one resumed on ``on``; ``not_paused`` when none is open."""
    current = next((pause for pause in pauses if pause.is_open), None)
    if current is None:
        raise DeadlineError("not_paused")
    if on < current.started_on:
        raise DeadlineError("resume_before_pause")
    return tuple(replace(pause, resumed_on=on) if pause is current else pause for pause in pauses)
