"""GDPR deadlines for data subject requests, without I/O and without a clock of its own.

Dates and settings go in; the deadline, the first deadline and the steps that
produced them come out, or a ``DeadlineError`` whose ``reason`` is one word from
``REASONS``. Nothing here imports a web framework or a database, or reads the
time: where the answer depends on the date, ``today`` is an argument.

Rules and sources
-----------------
1. **One calendar month** (GDPR Art. 12(3); UK GDPR Art. 12(3) and 12A; the ICO's
   counting rule): from the day of receipt to the corresponding date of the next
   month; when that month has no such date, its last day (31 January 2025 →
   28 February 2025; 31 January 2024 → 29 February 2024). ``deadlines.months``.
2. **Start of the clock**: EU, the day of receipt (GDPR Art. 12(3); EDPB
   Guidelines 01/2022, section 5.3). UK, optionally later: the latest of receipt,
   identity confirmed and fee paid (UK GDPR Art. 12A), given as
   ``clock_starts_on`` and never before receipt. ``deadline.clock_start``.
3. **Stopping the clock** (UK GDPR Art. 12A; EDPB Guidelines 01/2022 for identity
   and clarification): the paused days are added to the calendar-month date. A
   pause from D1 resumed on D2 counts D2 − D1 days; an open pause counts up to
   ``today``. Pausing never shortens a deadline, and a passed deadline cannot be
   paused. ``deadlines.pauses``.
4. **Next working day**. UK (ICO): a deadline on a weekend or bank holiday moves
   to the next working day, with the bank holidays of England and Wales, or of
   Scotland or Northern Ireland (received Monday 25 November 2024: 25 December is
   Christmas Day, 26 December Boxing Day, so due Friday 27 December 2024). EU: no
   move, unless a country is set; then Regulation (EEC, Euratom) No 1182/71
   Art. 3(4) moves a deadline on a public holiday, Saturday or Sunday to the next
   working day, with that country's public holidays. ``deadlines.calendars``.
5. **Extension** (GDPR Art. 12(3); UK GDPR Art. 12A; ICO): by two further months,
   counted as three calendar months from the start of the clock, with the same
   pauses and working-day rule; once only; with the reason given to the data
   subject, who must be told no later than the first deadline, and decided no
   later than that deadline. ``deadlines.extension``.
6. **Processor targets** (EDPB Guidelines 07/2020, §129: a processor's part does
   not extend the controller's deadline): the deadline less a margin (7 days by
   default), never before the clock started; a processor request past its target
   and not ended is late. ``deadlines.targets``.
7. **Urgency**: days left (negative when overdue), overdue from the day after the
   deadline, and which reminder thresholds (7, 3, 1 days by default) have been
   reached. ``deadlines.urgency``.

Every deadline carries its ``steps`` (``Step(rule, source, from_date, to_date,
note)``), and ``explain(steps)`` prints them as "received 2024-11-25; + 1 calendar
month (...) → 2024-12-25; bank holiday, Christmas Day (ICO) → 2024-12-26; ...".
``deadlines.sources`` gives the full reference behind each short source label.
"""

from deadlines.calendars import DEFAULT_UK_SUBDIVISION, Calendar, Jurisdiction
from deadlines.deadline import Deadline, clock_start, compute_deadline
from deadlines.errors import CONFLICTS, REASONS, DeadlineError
from deadlines.extension import Extension, check_extension_allowed
from deadlines.months import calendar_months_after
from deadlines.pauses import Pause, pause_clock, paused_days, resume_clock
from deadlines.steps import Rule, Step, explain
from deadlines.targets import DEFAULT_PROCESSOR_MARGIN_DAYS, is_late, processor_target, target_on
from deadlines.urgency import DEFAULT_NOTIFY_DAYS, days_left, is_overdue, thresholds_reached

__all__ = [
    "CONFLICTS",
    "DEFAULT_NOTIFY_DAYS",
    "DEFAULT_PROCESSOR_MARGIN_DAYS",
    "DEFAULT_UK_SUBDIVISION",
    "REASONS",
    "Calendar",
    "Deadline",
    "DeadlineError",
    "Extension",
    "Jurisdiction",
    "Pause",
    "Rule",
    "Step",
    "calendar_months_after",
    "check_extension_allowed",
    "clock_start",
    "compute_deadline",
    "days_left",
    "explain",
    "is_late",
    "is_overdue",
    "pause_clock",
    "paused_days",
    "processor_target",
    "resume_clock",
    "target_on",
    "thresholds_reached",
]
