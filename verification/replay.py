"""Remembering which signed requests were already accepted.

A ``ReplayCache`` is an atomic set-if-absent with an expiry: ``add`` records a key
until ``expires_at`` and answers whether it was new. Production backends (SQL,
Redis) live in ``storage/`` and pass the same contract suite,
``verification.testing.ReplayCacheContract``, as ``MemoryReplayCache`` here.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class ReplayCache(Protocol):
    def add(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until the Unix time ``expires_at``; False when it is already recorded.

        Atomic: of many concurrent calls with one unexpired key, exactly one returns True.
        A key whose ``expires_at`` has passed counts as absent.
        """
        ...


class MemoryReplayCache:
    """A ``ReplayCache`` in this process's memory, for tests and a single-process service.

    It is not shared between processes, so a service run by several workers needs
    a backend from ``storage/``. Expired entries are dropped as new keys arrive,
    which bounds the memory to the keys still live.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def add(self, key: str, expires_at: float) -> bool:
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            if key in self._expiry:
                return False
            if expires_at > now:
                self._expiry[key] = expires_at
                heapq.heappush(self._heap, (expires_at, key))
            return True

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._expiry)

    def _drop_expired(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]
