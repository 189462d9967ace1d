"""GDPR deadlines for data subject requests, without I/O and without a clock of its own.

Dates and settings go in; the deadline, the first deadline and the steps that
produced them come out, or a ``DeadlineError`` whose ``reason`` is one word from
``REASONS``. Nothing here imports a web framework or a database, or reads the
time: where the answer depends on the date, ``today`` is an argument.

One module per rule, each citing its source (``deadlines.sources`` has the full references):

1. one calendar month, GDPR Art. 12(3) and the ICO's counting rule: ``deadlines.months``;
2. when the clock starts, the day of receipt or (UK GDPR Art. 12A) later: ``deadline.clock_start``;
3. stopping the clock, UK GDPR Art. 12A and EDPB Guidelines 01/2022: ``deadlines.pauses``;
4. the next working day, the ICO (UK) or Regulation 1182/71 Art. 3(4) (EU, when a country is
   set): ``deadlines.calendars``;
5. the extension by two further months, GDPR Art. 12(3): ``deadlines.extension``;
6. the processors' target, EDPB Guidelines 07/2020 §129: ``deadlines.targets``;
7. urgency: days left, overdue, the reminder thresholds reached: ``deadlines.urgency``.

Every deadline carries its ``steps`` (``Step(rule, source, from_date, to_date, note)``), and
``explain(steps)`` prints them. The rules in full, with worked examples: docs/deadlines.md.
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
