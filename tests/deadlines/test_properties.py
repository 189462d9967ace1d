"""Properties every deadline has, whatever the dates: checked on generated cases."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from deadlines import (
    REASONS,
    Calendar,
    Deadline,
    DeadlineError,
    Extension,
    Pause,
    calendar_months_after,
    compute_deadline,
)
from deadlines.calendars import _country_info, _holidays_in_block

CALENDARS = (
    Calendar.for_jurisdiction("UK"),
    Calendar.for_jurisdiction("UK", uk_subdivision="SCT"),
    Calendar.for_jurisdiction("UK", uk_subdivision="NIR"),
    Calendar.for_jurisdiction("EU"),
    Calendar.for_jurisdiction("EU", eu_country="DE"),
    Calendar.for_jurisdiction("EU", eu_country="FR"),
)
UK_CALENDARS = CALENDARS[:3]

calendars = st.sampled_from(CALENDARS)
received_dates = st.dates(min_value=date(2018, 5, 25), max_value=date(2095, 12, 31))
#: Up to three pauses after the clock starts, the gaps between them short enough that
#: each starts within the first month (at least 28 days), before the deadline it would move.
pause_shapes = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 20)), max_size=3)

EXAMPLES = settings(max_examples=150, deadline=None)


def pauses_from(counted_from: date, shapes: list[tuple[int, int]]) -> tuple[Pause, ...]:
    pauses, start = [], counted_from
    for gap, length in shapes:
        start += timedelta(days=gap)
        pauses.append(Pause(start, start + timedelta(days=length)))
        start += timedelta(days=length)
    return tuple(pauses)


def deadline(received_on: date, calendar: Calendar, **inputs: object) -> Deadline:
    return compute_deadline(received_on=received_on, calendar=calendar, **inputs)  # type: ignore[arg-type]


@EXAMPLES
@given(received_on=received_dates, calendar=calendars, shapes=pause_shapes, extend=st.booleans())
def test_never_before_the_plain_calendar_month(
    received_on: date, calendar: Calendar, shapes: list[tuple[int, int]], extend: bool
) -> None:
    extension = Extension(received_on, "complex") if extend else None
    result = deadline(received_on, calendar, pauses=pauses_from(received_on, shapes), extension=extension)
    assert result.original_due_on >= calendar_months_after(received_on, 1)
    assert result.due_on >= result.original_due_on


@EXAMPLES
@given(received_on=received_dates, calendar=st.sampled_from(UK_CALENDARS), shapes=pause_shapes)
def test_a_uk_deadline_is_a_working_day(received_on: date, calendar: Calendar, shapes: list[tuple[int, int]]) -> None:
    due_on = deadline(received_on, calendar, pauses=pauses_from(received_on, shapes)).due_on
    bank_holidays = holidays.country_holidays("GB", subdiv=calendar.subdivision, years=due_on.year)
    assert due_on.weekday() < 5 and due_on not in bank_holidays


@EXAMPLES
@given(received_on=received_dates, calendar=calendars, shapes=pause_shapes)
def test_pausing_never_shortens_and_adds_at_least_the_paused_days(
    received_on: date, calendar: Calendar, shapes: list[tuple[int, int]]
) -> None:
    unpaused = deadline(received_on, calendar)
    paused = deadline(received_on, calendar, pauses=pauses_from(received_on, shapes))
    assert paused.due_on >= unpaused.due_on
    assert (paused.due_on - calendar_months_after(received_on, 1)).days >= paused.paused_days
    assert paused.paused_days == sum(length for _, length in shapes)


@EXAMPLES
@given(received_on=received_dates, shapes=pause_shapes)
def test_without_a_country_the_eu_deadline_is_the_month_plus_the_paused_days(
    received_on: date, shapes: list[tuple[int, int]]
) -> None:
    result = deadline(received_on, CALENDARS[3], pauses=pauses_from(received_on, shapes))
    assert result.due_on == calendar_months_after(received_on, 1) + timedelta(days=result.paused_days)


@EXAMPLES
@given(received_on=received_dates, calendar=calendars, shapes=pause_shapes, notice_days=st.integers(0, 27))
def test_the_extended_deadline_is_after_the_first(
    received_on: date, calendar: Calendar, shapes: list[tuple[int, int]], notice_days: int
) -> None:
    extension = Extension(received_on + timedelta(days=notice_days), "complex")
    result = deadline(received_on, calendar, pauses=pauses_from(received_on, shapes), extension=extension)
    assert result.due_on > result.original_due_on
    assert result.due_on >= calendar_months_after(received_on, 3)


@EXAMPLES
@given(first=received_dates, later_by=st.integers(0, 400), calendar=calendars, extend=st.booleans())
def test_a_later_receipt_never_gives_an_earlier_deadline(
    first: date, later_by: int, calendar: Calendar, extend: bool
) -> None:
    later = first + timedelta(days=later_by)
    inputs = {"extension": Extension(first, "complex")} if extend else {}
    later_inputs = {"extension": Extension(later, "complex")} if extend else {}
    assert deadline(first, calendar, **inputs).due_on <= deadline(later, calendar, **later_inputs).due_on


@EXAMPLES
@given(
    received_on=received_dates,
    clock_delay=st.integers(0, 20),
    calendar=st.sampled_from(UK_CALENDARS),
    shapes=pause_shapes,
)
def test_a_later_uk_clock_start_never_gives_an_earlier_deadline(
    received_on: date, clock_delay: int, calendar: Calendar, shapes: list[tuple[int, int]]
) -> None:
    clock_starts_on = received_on + timedelta(days=clock_delay)
    pauses = pauses_from(clock_starts_on, shapes)
    started_late = deadline(received_on, calendar, clock_starts_on=clock_starts_on, pauses=pauses)
    assert started_late.due_on >= deadline(clock_starts_on, calendar, pauses=pauses).due_on


@EXAMPLES
@given(received_on=received_dates, calendar=calendars, pause_after=st.integers(0, 20), paused_for=st.integers(0, 60))
def test_an_open_pause_projects_the_deadline_of_resuming_today(
    received_on: date, calendar: Calendar, pause_after: int, paused_for: int
) -> None:
    started_on = received_on + timedelta(days=pause_after)
    today = started_on + timedelta(days=paused_for)
    still_paused = deadline(received_on, calendar, pauses=[Pause(started_on)], today=today)
    resumed_today = deadline(received_on, calendar, pauses=[Pause(started_on, today)])
    assert (still_paused.due_on, still_paused.paused_days) == (resumed_today.due_on, resumed_today.paused_days)


@settings(max_examples=50, deadline=None)
@given(received_on=received_dates, calendar=calendars, shapes=pause_shapes, other=received_dates)
def test_the_result_depends_on_nothing_but_the_inputs(
    received_on: date, calendar: Calendar, shapes: list[tuple[int, int]], other: date
) -> None:
    pauses = pauses_from(received_on, shapes)
    first = deadline(received_on, calendar, pauses=pauses)
    _holidays_in_block.cache_clear()
    _country_info.cache_clear()
    deadline(other, calendar)
    assert deadline(received_on, calendar, pauses=list(reversed(pauses))) == first


any_pause = st.builds(Pause, st.dates(), st.none() | st.dates())


@settings(max_examples=300, deadline=None)
@given(
    received_on=st.dates(),
    clock_starts_on=st.none() | st.dates(),
    pauses=st.lists(any_pause, max_size=3),
    extension=st.none() | st.builds(Extension, st.dates(), st.sampled_from(["", "complex"])),
    today=st.none() | st.dates(),
    calendar=calendars,
)
def test_any_input_gives_a_deadline_or_a_deadline_error(
    received_on: date,
    clock_starts_on: date | None,
    pauses: list[Pause],
    extension: Extension | None,
    today: date | None,
    calendar: Calendar,
) -> None:
    try:
        result = compute_deadline(
            received_on=received_on,
            calendar=calendar,
            clock_starts_on=clock_starts_on,
            pauses=pauses,
            extension=extension,
            today=today,
        )
    except DeadlineError as refused:
        assert refused.reason in REASONS  # noqa: PT017  either outcome is allowed here; pytest.raises would demand the error
    else:
        assert result.due_on >= result.original_due_on >= calendar_months_after(result.counted_from, 1)


#: Pauses that may start on any day from the clock's start to a few days after the plain month: in the
#: UK working-day grace too. ``(start offset from the month's date, length)``; an open last pause.
late_pause_shapes = st.lists(st.tuples(st.integers(-40, 4), st.integers(0, 12)), min_size=1, max_size=3)


@EXAMPLES
@given(received_on=received_dates, calendar=calendars, shapes=late_pause_shapes, open_last=st.booleans())
def test_while_the_clock_is_stopped_nothing_becomes_overdue(
    received_on: date, calendar: Calendar, shapes: list[tuple[int, int]], open_last: bool
) -> None:
    """docs/deadlines.md, rule 3: a deadline the pauses leave is never before the day any of them restarted the clock
    (an open one: today), so a case is never overdue while stopped, nor on the day its clock restarts."""
    month_date = calendar_months_after(received_on, 1)
    pauses, taken_to = [], received_on
    for offset, length in sorted(shapes):
        start = max(month_date + timedelta(days=offset), taken_to)
        pauses.append(Pause(start, start + timedelta(days=length)))
        taken_to = start + timedelta(days=length)
    today = None
    if open_last:
        today, pauses[-1] = pauses[-1].resumed_on, Pause(pauses[-1].started_on)
    try:
        result = deadline(received_on, calendar, pauses=pauses, today=today)
    except DeadlineError as error:
        refused = error.reason
    else:
        refused = None
    assert refused in (None, "pause_after_deadline")
    for pause in result.pauses if refused is None else ():
        restarted = pause.resumed_on if pause.resumed_on is not None else today
        assert restarted is not None and result.due_on >= restarted, (pause, result.due_on)
