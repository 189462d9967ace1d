"""One caller at a time finds out whether a backend that stopped answering is back.

A frozen database or Redis holds each call for ``DATABASE_TIMEOUT_SECONDS`` before it
fails. With every web thread of a process waiting on it, everything else the process
serves (``/healthz``, ``/readyz``, the admin API) queues behind them. So once a call
found the backend not answering, the breaker opens: the next caller is let through as
the probe (its call bounded as usual) while every other caller meanwhile gets
``StorageError("unavailable")`` at once. The first call that succeeds closes it.

Only a backend that did not answer opens it (a timeout, a lost or refused connection);
an error the server answered with (a lock timeout, a conflict) proves it is there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from storage.errors import StorageError


class Breaker:
    """``with breaker.call(): ...`` around every call to one backend, named ``what`` in its errors."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._open = False
        self._probe = threading.Lock()

    @property
    def open(self) -> bool:
        return self._open

    @contextmanager
    def call(self, did_not_answer: Callable[[BaseException], bool]) -> Iterator[None]:
        """Run the block unless another caller is probing the open breaker; ``did_not_answer`` tells
        which of the block's exceptions open it."""
        probing = self._open and self._probe.acquire(blocking=False)
        if self._open and not probing:
            raise StorageError("unavailable", f"{self._what} not answering; another call is trying it")
        try:
            yield
        except BaseException as error:
            if did_not_answer(error):
                self._open = True
            raise
        else:
            self._open = False
        finally:
            if probing:
                self._probe.release()
