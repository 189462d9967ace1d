"""One caller at a time finds out whether a backend that stopped answering is back.

A frozen database or Redis holds each call for ``DATABASE_TIMEOUT_SECONDS`` before it
fails. With every web thread of a process waiting on it, everything else the process
serves (``/healthz``, ``/readyz``, the admin API) queues behind them. So once a call
found the backend not answering, the breaker opens: every caller gets
``StorageError("unavailable")`` at once for ``probe_interval_seconds``, then the next
caller is let through as the probe (its call bounded as usual) while the others go on
failing at once. The first call that succeeds closes it.

The interval matters under load: the requests that queued behind the calls in flight at
the freeze start as those calls fail; without it the first of them would become the
probe and wait a second timeout, having waited one already.

Only a backend that did not answer opens it (a timeout, a lost or refused connection);
an error the server answered with (a lock timeout, a conflict) proves it is there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from storage.errors import StorageError

#: How long after a backend last failed to answer every caller fails at once, before one may try it again.
PROBE_INTERVAL_SECONDS = 1.0


class Breaker:
    """``with breaker.call(): ...`` around every call to one backend, named ``what`` in its errors."""

    def __init__(
        self,
        what: str,
        *,
        probe_interval_seconds: float = PROBE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._open = False
        self._opened_at = 0.0
        self._interval = probe_interval_seconds
        self._clock = clock
        self._probe = threading.Lock()

    @property
    def open(self) -> bool:
        return self._open

    @contextmanager
    def call(self, did_not_answer: Callable[[BaseException], bool]) -> Iterator[None]:
        """Run the block unless another caller is probing the open breaker; ``did_not_answer`` tells
        which of the block's exceptions open it."""
        if self._open and not self._may_probe():
            raise StorageError("unavailable", f"{self._what} not answering; tried again within {self._interval:g} s")
        probing = self._open and self._probe.acquire(blocking=False)
        if self._open and not probing:
            raise StorageError("unavailable", f"{self._what} not answering; another call is trying it")
        try:
            yield
        except BaseException as error:
            if did_not_answer(error):
                self._opened_at, self._open = self._clock(), True
            raise
        else:
            self._open = False
        finally:
            if probing:
                self._probe.release()

    def _may_probe(self) -> bool:
        return self._clock() - self._opened_at >= self._interval
