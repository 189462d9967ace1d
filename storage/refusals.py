"""A bounded sample of refused callback deliveries: what ops need to see an attack, and nothing more.

A refused delivery (bad JSON, no or bad signature, unknown request, wrong kind, too
large ...) is counted in the metrics and logged, but its content is never kept: not
its text, not the request id it names. Some of them are sampled into
``refused_deliveries`` with the time, the status, the reason, the client address and
the body's SHA-256 and size. The table has ``cap`` slots that are reused in turn, so
it never grows however many deliveries are refused; each process samples at most
``per_second`` of them (a refusal is only described, its body hashed, once it is
sampled) and writes its samples in batches, one statement at most every
``flush_seconds``, so a flood of refusals costs the database almost nothing (on
SQLite every write waits for the one writer's turn). ``flush`` writes what is
pending now: readers of the samples call it first.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.errors import StorageError
from storage.models import RefusedDelivery

_table = RefusedDelivery.__table__
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """What a sample keeps of a refused delivery."""

    received_at: dt.datetime
    status_code: int
    reason: str
    remote_addr: str | None
    body_sha256: str | None
    body_bytes: int | None


_REFUSAL_FIELDS = ("received_at", "status_code", "reason", "remote_addr", "body_sha256", "body_bytes")


def _take_slot_statement(insert: Callable[..., Any]) -> Any:
    """An upsert of one slot, built once per dialect."""
    statement = insert(_table).values(
        slot=bindparam("slot"),
        received_at=bindparam("received_at", type_=_table.c.received_at.type),
        status_code=bindparam("status_code"),
        reason=bindparam("reason"),
        remote_addr=bindparam("remote_addr"),
        body_sha256=bindparam("body_sha256"),
        body_bytes=bindparam("body_bytes"),
    )
    return statement.on_conflict_do_update(
        index_elements=[_table.c.slot],
        set_={name: statement.excluded[name] for name in _REFUSAL_FIELDS},
    )


_TAKE_SLOT = {"postgresql": _take_slot_statement(postgresql.insert), "sqlite": _take_slot_statement(sqlite.insert)}


class RefusalSamples:
    """Samples refusals into ``cap`` reused slots, at most ``per_second`` per process, written in batches."""

    def __init__(
        self,
        database: Database,
        *,
        cap: int,
        per_second: float = 2.0,
        flush_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._cap = cap
        self._interval = 1.0 / per_second if per_second > 0 else float("inf")
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._next_allowed = 0.0
        self._slots = itertools.count(random.randrange(cap)) if cap > 0 else None
        self._pending: dict[int, Refusal] = {}
        self._timer: threading.Timer | None = None
        self._timer_pid = 0
        self._exit_flush_registered = False

    def offer(self, describe: Callable[[], Refusal]) -> bool:
        """Keep the refusal ``describe`` returns (called only then) if this process's rate allows; whether it was kept.

        It is written with the next batch: within ``flush_seconds``, or at the next ``flush``.
        """
        slot = self._claim_slot()
        if slot is None:
            return False
        refusal = describe()
        with self._lock:
            self._pending[slot] = refusal  # a slot reused before its batch went out: the newer sample wins
            self._schedule_flush()
        return True

    def flush(self) -> int:
        """Write the pending samples in one statement; how many were written.

        Samples only illustrate what the metrics and the log count: a batch the database
        does not take is dropped with a warning (``callback.samples_dropped``), never raised.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not pending:
            return 0
        try:
            with self._database.connection() as connection:
                take_slots(connection, list(pending.items()))
        except StorageError as error:
            log.warning("callback.samples_dropped", extra={"reason": error.reason, "samples": len(pending)})
            return 0
        return len(pending)

    def close(self) -> None:
        """Write what is pending; nothing is written after (the process, or its ``Database``, is ending)."""
        self.flush()
        with self._lock:
            self._slots = None
        atexit.unregister(self.flush)

    def _claim_slot(self) -> int | None:
        if self._slots is None:
            return None
        with self._lock:
            now = self._clock()
            if now < self._next_allowed:
                return None
            self._next_allowed = now + self._interval
            return next(self._slots) % self._cap

    def _schedule_flush(self) -> None:
        """Called with the lock held: a timer for the batch, and a last flush when the process exits."""
        if self._timer is None or self._timer_pid != os.getpid():  # a forked child has none of its parent's threads
            self._timer = threading.Timer(self._flush_seconds, self.flush)
            self._timer.daemon = True
            self._timer.start()
            self._timer_pid = os.getpid()
        if not self._exit_flush_registered:
            atexit.register(self.flush)
            self._exit_flush_registered = True


def take_slots(connection: Connection, samples: Sequence[tuple[int, Refusal]]) -> None:
    """Write each ``(slot, refusal)`` over whatever its slot held, in one statement."""
    statement = _TAKE_SLOT[connection.dialect.name]
    connection.execute(statement, [{"slot": slot, **dataclasses.asdict(refusal)} for slot, refusal in samples])


def recent(connection: Connection, *, since: dt.datetime, limit: int = 100) -> list[Refusal]:
    """The sampled refusals received after ``since``, newest first."""
    columns = [_table.c[name] for name in _REFUSAL_FIELDS]
    rows = connection.execute(
        select(*columns).where(_table.c.received_at >= since).order_by(_table.c.received_at.desc()).limit(limit)
    )
    return [Refusal(*row) for row in rows]


def purge_older_than(connection: Connection, cutoff: dt.datetime) -> int:
    """Delete the samples received before ``cutoff``; how many."""
    return connection.execute(delete(_table).where(_table.c.received_at < cutoff)).rowcount
