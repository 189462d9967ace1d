"""The service's one clock: timezone-aware UTC ``datetime`` values, and today's date.

``Clock`` is the only place of the service that reads the wall clock. One is built
per process (``receiver.services.build_services``) and handed to the ``Database``,
which carries it to the storage functions (``clock_of``) and to the columns stamped
by default (``now_default``); the use cases read it as ``services.clock``. A test
stops it at a time of its choosing with ``set``. Durations and timeouts are measured
with ``time.monotonic`` instead: that is no reading of the time of day.

The pure engines (``verification``, ``deadlines``) never read a clock; they take
``now``/``today`` as arguments, and the layers above pass this one's in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Session

#: The execution option of the database's engine that holds its ``Clock``.
EXECUTION_OPTION = "clock"


class Clock:
    """Now in UTC, timezone-aware: the wall clock's, or the time a test stopped it at."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        self._stopped_at: dt.datetime | None = None
        self.set(at)

    def now(self) -> dt.datetime:
        return self._stopped_at if self._stopped_at is not None else dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        """Today's date in UTC."""
        return self.now().date()

    def timestamp(self) -> float:
        """Now as Unix time (seconds), for what counts in it: replay keys, JSON Web Tokens."""
        return self.now().timestamp()

    def set(self, at: dt.datetime | None) -> None:
        """Stop the clock at ``at`` (a test's fixed time; timezone-aware); None lets it run with the wall clock."""
        if at is not None and at.tzinfo is None:
            raise ValueError("the clock is set to a timezone-aware time")
        self._stopped_at = None if at is None else at.astimezone(dt.UTC)


def clock_of(bind: Session | Connection) -> Clock:
    """The clock of the ``Database`` that ``bind`` (a session or a connection of it) came from."""
    connection = bind.connection() if isinstance(bind, Session) else bind
    clock: Clock = connection.get_execution_options()[EXECUTION_OPTION]
    return clock


def now_default(context: DefaultExecutionContext) -> dt.datetime:
    """A column's default and update stamp: now, by the clock of the database writing the row.

    SQLAlchemy calls it with the statement's execution context (a context-sensitive default).
    """
    clock: Clock = context.execution_options[EXECUTION_OPTION]
    return clock.now()
