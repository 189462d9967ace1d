"""A case's deadline, from its dates and settings, with the steps that produced it.

The order is always the same: the clock starts (on receipt, or later in the UK);
one calendar month is added (three when extended); the paused days are added to
that calendar-month date; then, where the calendar says so, the date moves to
the next working day. ``original_due_on`` is the first deadline computed this
way with one month; ``due_on`` is the deadline in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from deadlines import sources
from deadlines.calendars import Calendar, Jurisdiction
from deadlines.errors import DeadlineError
from deadlines.extension import Extension, check_extension
from deadlines.months import EXTENDED_MONTHS, ONE_MONTH, calendar_months_after
from deadlines.pauses import Pause, checked_pauses, paused_days
from deadlines.steps import Rule, Step

_SOURCES: dict[tuple[Jurisdiction, Rule], str] = {
    (Jurisdiction.EU, Rule.RECEIVED): sources.GDPR_ONE_MONTH,
    (Jurisdiction.EU, Rule.ONE_MONTH): sources.GDPR_ONE_MONTH,
    (Jurisdiction.EU, Rule.EXTENSION): sources.GDPR_EXTENSION,
    (Jurisdiction.EU, Rule.CLOCK_STOPPED): sources.EU_STOPPED_CLOCK,
    (Jurisdiction.UK, Rule.RECEIVED): sources.UK_ONE_MONTH,
    (Jurisdiction.UK, Rule.CLOCK_START): sources.UK_CLOCK_START,
    (Jurisdiction.UK, Rule.ONE_MONTH): sources.UK_ONE_MONTH,
    (Jurisdiction.UK, Rule.EXTENSION): sources.UK_EXTENSION,
    (Jurisdiction.UK, Rule.CLOCK_STOPPED): sources.UK_STOPPED_CLOCK,
}


@dataclass(frozen=True)
class Deadline:
    """The deadline in force (``due_on``), the first one, and the inputs they came from."""

    calendar: Calendar
    received_on: date
    clock_starts_on: date | None
    pauses: tuple[Pause, ...]
    extension: Extension | None
    today: date | None
    due_on: date
    original_due_on: date
    paused_days: int
    steps: tuple[Step, ...]
    original_steps: tuple[Step, ...]

    @property
    def jurisdiction(self) -> Jurisdiction:
        return self.calendar.jurisdiction

    @property
    def counted_from(self) -> date:
        """The day the clock started: receipt, or the UK's later clock start."""
        return self.received_on if self.clock_starts_on is None else self.clock_starts_on

    @property
    def is_extended(self) -> bool:
        return self.extension is not None

    @property
    def is_paused(self) -> bool:
        return any(pause.is_open for pause in self.pauses)


def clock_start(received_on: date, clock_starts_on: date | None, jurisdiction: Jurisdiction) -> date:
    """The day the month is counted from.

    GDPR Art. 12(3): "within one month of receipt of the request", counted from the
    day of receipt (ICO; EDPB Guidelines 01/2022, section 5.3). UK GDPR Art. 12A: from
    the latest of receipt, the identity information asked for, and a fee charged;
    the caller gives that day as ``clock_starts_on``, never before receipt. Under the
    EU GDPR waiting for identity is a pause (``deadlines.pauses``), not a later start.
    """
    if clock_starts_on is None:
        return received_on
    if jurisdiction is not Jurisdiction.UK:
        raise DeadlineError("clock_start_uk_only")
    if clock_starts_on < received_on:
        raise DeadlineError("clock_start_before_receipt")
    return clock_starts_on


def compute_deadline(
    *,
    received_on: date,
    calendar: Calendar,
    clock_starts_on: date | None = None,
    pauses: Iterable[Pause] = (),
    extension: Extension | None = None,
    today: date | None = None,
) -> Deadline:
    """The deadline of a request received on ``received_on``, or a ``DeadlineError``.

    ``today`` is needed only to count an open pause; nothing here reads a clock.
    """
    counted_from = clock_start(received_on, clock_starts_on, calendar.jurisdiction)
    ordered = checked_pauses(pauses, counted_from=counted_from, today=today)
    opening = _opening_steps(received_on, counted_from, calendar.jurisdiction)
    first = _run_clock(opening, counted_from, ONE_MONTH, ordered, calendar, today)
    current = first
    if extension is not None:
        check_extension(extension, received_on=received_on, first_due_on=first.due_on)
        current = _run_clock(opening, counted_from, EXTENDED_MONTHS, ordered, calendar, today)
    if current.pauses_counted < len(ordered):
        raise DeadlineError("pause_after_deadline")
    return Deadline(
        calendar=calendar,
        received_on=received_on,
        clock_starts_on=clock_starts_on,
        pauses=ordered,
        extension=extension,
        today=today,
        due_on=current.due_on,
        original_due_on=first.due_on,
        paused_days=current.paused_days,
        steps=current.steps,
        original_steps=first.steps,
    )


class _Run(NamedTuple):
    due_on: date
    steps: tuple[Step, ...]
    paused_days: int
    pauses_counted: int


def _run_clock(
    opening: tuple[Step, ...],
    counted_from: date,
    months: int,
    pauses: Sequence[Pause],
    calendar: Calendar,
    today: date | None,
) -> _Run:
    """Run the clock for ``months``, counting each pause that started while it still ran.

    A pause that starts after the deadline the earlier pauses give is not counted,
    and neither is any after it: a deadline that has passed cannot be paused.
    """
    months_step = _months_step(counted_from, months, calendar.jurisdiction)
    run = _with_pauses(opening, months_step, (), calendar, today)
    for counted, pause in enumerate(pauses, start=1):
        if pause.started_on > run.due_on:
            break
        run = _with_pauses(opening, months_step, pauses[:counted], calendar, today)
    return run


def _with_pauses(
    opening: tuple[Step, ...],
    months_step: Step,
    pauses: Sequence[Pause],
    calendar: Calendar,
    today: date | None,
) -> _Run:
    pause_steps = _pause_steps(months_step.to_date, pauses, calendar, today)
    paused_date = pause_steps[-1].to_date if pause_steps else months_step.to_date
    steps = (*opening, months_step, *pause_steps, *calendar.to_working_day(paused_date))
    return _Run(steps[-1].to_date, steps, paused_days(pauses, today=today), len(pauses))


def _opening_steps(received_on: date, counted_from: date, jurisdiction: Jurisdiction) -> tuple[Step, ...]:
    received = Step(Rule.RECEIVED, _SOURCES[jurisdiction, Rule.RECEIVED], received_on, received_on, "received")
    if counted_from == received_on:
        return (received,)
    note = "clock starts (the latest of receipt, identity confirmed, fee paid)"
    source = _SOURCES[jurisdiction, Rule.CLOCK_START]
    return (received, Step(Rule.CLOCK_START, source, received_on, counted_from, note))


def _months_step(counted_from: date, months: int, jurisdiction: Jurisdiction) -> Step:
    if months == ONE_MONTH:
        rule, note = Rule.ONE_MONTH, "+ 1 calendar month"
    else:
        rule, note = Rule.EXTENSION, f"+ {months} calendar months, extended by two further months"
    months_date = calendar_months_after(counted_from, months)
    return Step(rule, _SOURCES[jurisdiction, rule], counted_from, months_date, note)


def _pause_steps(start: date, pauses: Sequence[Pause], calendar: Calendar, today: date | None) -> tuple[Step, ...]:
    """The paused days, each pause's added to the date the earlier ones reached.

    A pause that starts after that date stopped the clock in the working-day grace (UK: the
    month ended on a weekend or a bank holiday, and the deadline in force was the next working
    day): its days are added to that working day, the deadline in force when the clock
    stopped, so the clock restarts with the days it had left and nothing is overdue while it
    is stopped (``_stopped_in_the_grace``).
    """
    steps: list[Step] = []
    for pause in pauses:
        days = pause.days(today=today)
        if days:
            grace = _stopped_in_the_grace(start, pause, calendar)
            steps += grace
            start = grace[-1].to_date if grace else start
            end = _plus_days(start, days)
            source = _SOURCES[calendar.jurisdiction, Rule.CLOCK_STOPPED]
            steps.append(Step(Rule.CLOCK_STOPPED, source, start, end, _pause_note(pause, days)))
            start = end
    return tuple(steps)


def _stopped_in_the_grace(counted_to: date, pause: Pause, calendar: Calendar) -> tuple[Step, ...]:
    """The working-day steps from ``counted_to`` when ``pause`` started after it (in the grace), else none.

    UK GDPR Art. 12A: the time limit does not run while the controller waits for the
    information it asked for; the ICO: a time limit ending on a non-working day ends on the
    next working day. A clock stopped on such a day had the days up to that working day left.
    """
    return calendar.to_working_day(counted_to) if pause.started_on > counted_to else ()


def _pause_note(pause: Pause, days: int) -> str:
    plural = "day" if days == 1 else "days"
    if pause.resumed_on is None:
        return f"+ {days} {plural}, clock stopped since {pause.started_on.isoformat()}, counted to today"
    return f"+ {days} {plural}, clock stopped {pause.started_on.isoformat()} to {pause.resumed_on.isoformat()}"


def _plus_days(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise DeadlineError("date_out_of_range") from None
