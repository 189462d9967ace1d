"""Counting calendar months, the unit of every GDPR time limit.

GDPR Art. 12(3) gives "one month of receipt of the request". The ICO's counting
rule, which matches Regulation 1182/71 Art. 3(2)(c) for periods in months, reads
it as: from the day of receipt to the corresponding date of the next month; when
the next month has no such date, the last day of that month (31 January → 28 or
29 February).
``dateutil.relativedelta`` clamps to the month's end in exactly this way.

An extension is counted the ICO's way, three months from the original start, not
two months from the first deadline: 31 January → 30 April, where 28 February plus
two months would give 28 April.
"""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta

from deadlines.errors import DeadlineError

#: The first time limit (GDPR Art. 12(3)).
ONE_MONTH = 1
#: One month plus the "two further months" of an extension (GDPR Art. 12(3)).
EXTENDED_MONTHS = 3


def calendar_months_after(start: date, months: int) -> date:
    """The same date ``months`` later, or that month's last day when it has no such date."""
    try:
        return start + relativedelta(months=months)
    except (ValueError, OverflowError):
        raise DeadlineError("date_out_of_range") from None
