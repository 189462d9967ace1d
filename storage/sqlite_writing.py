"""SQLite's one writer at a time, organised: the writer's turn.

SQLite lets one transaction write at a time. Writers that all ``BEGIN IMMEDIATE``
at once wait in SQLite's busy handler, which sleeps in steps of 1, 2, 5, 10 ... up
to 100 ms and so wakes long after the lock is free: under load most of the time
went to sleeping, and the slowest callbacks waited over a second. So every
transaction first takes the writer's turn (``WriterTurn``):

- the threads of one process queue on a lock that wakes the next one as soon as
  it is free;
- the processes sharing the file take turns through an ``flock`` on
  ``<database>-writer.lock`` beside it. A free lock is taken at once; a busy one
  is waited for by the process's turn thread, blocked in the kernel, which wakes
  it the moment the holder lets go (or dies: the kernel drops a dead process's
  locks), while the caller waits at most ``DATABASE_TIMEOUT_SECONDS``.

SQLite's own lock and busy timeout stay in place for any other writer (a
migration, the ``sqlite3`` shell).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager

from storage.errors import StorageError


class WriterTurn:
    """One writer at a time on a SQLite file: a lock between this process's threads, an ``flock`` between processes.

    ``held()`` waits at most ``timeout`` seconds for the turn, then raises
    ``StorageError("unavailable")``; the turn is given back when the block ends.
    For ``:memory:`` (one process only) the thread lock alone is the turn.
    """

    def __init__(self, database_path: str | None, timeout: float) -> None:
        self._threads = threading.Lock()
        self._timeout = timeout
        self._lock_path = f"{database_path}-writer.lock" if database_path else None
        self._fd: int | None = None
        self._waiter: ThreadPoolExecutor | None = None
        self._abandoned: Future[None] | None = None
        self._opened_by: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        deadline = time.monotonic() + self._timeout  # one bound for both waits, not one each
        if not self._threads.acquire(timeout=self._timeout):
            raise _no_turn()
        try:
            fd = self._lock_file()
            if fd is not None:
                self._flock(fd, max(0.0, deadline - time.monotonic()))
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _flock(self, fd: int, timeout: float) -> None:
        """The exclusive ``flock``: at once if free, else through the turn thread, waiting at most ``timeout``.

        A wait that timed out stays queued in the turn thread and lets the lock go as soon as
        it gets it. Until then the next caller queues behind it rather than trying at once:
        the process's one descriptor would otherwise "take" the lock twice, and the late
        release would end the new holder's turn.
        """
        if self._abandoned is None or self._abandoned.done():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
        assert self._waiter is not None
        taken: Future[None] = self._waiter.submit(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            taken.result(timeout=timeout)
        except FutureTimeout:
            taken.add_done_callback(lambda _: fcntl.flock(fd, fcntl.LOCK_UN))
            self._abandoned = taken
            raise _no_turn() from None

    def _lock_file(self) -> int | None:
        """The lock file's descriptor and turn thread, made once per process (a forked child makes its own)."""
        if self._lock_path is None:
            return None
        if self._fd is None or self._opened_by != os.getpid():
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer-turn")
            self._opened_by = os.getpid()
        return self._fd


def _no_turn() -> StorageError:
    return StorageError("unavailable", "database busy: no turn to write within DATABASE_TIMEOUT_SECONDS")
