"""MemoryReplayCache: the shared ReplayCache contract, plus expiry at the second with an injected clock."""

from __future__ import annotations

import pytest

from verification import MemoryReplayCache, ReplayCache
from verification.testing import ReplayCacheContract


class TestMemoryReplayCache(ReplayCacheContract):
    @pytest.fixture
    def replay_cache(self) -> MemoryReplayCache:
        return MemoryReplayCache()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000.0)


@pytest.fixture
def cache(clock: Clock) -> MemoryReplayCache:
    return MemoryReplayCache(clock=clock)


def test_it_satisfies_the_protocol() -> None:
    assert isinstance(MemoryReplayCache(), ReplayCache)


def test_a_key_is_held_until_just_before_its_expiry(cache: MemoryReplayCache, clock: Clock) -> None:
    cache.add("k", 1_060.0)
    clock.now = 1_059.999
    assert cache.add("k", 1_120.0) is False


def test_a_key_is_free_again_at_its_expiry(cache: MemoryReplayCache, clock: Clock) -> None:
    cache.add("k", 1_060.0)
    clock.now = 1_060.0
    assert cache.add("k", 1_120.0) is True
    assert cache.add("k", 1_120.0) is False


def test_a_key_added_already_expired_is_not_kept(cache: MemoryReplayCache) -> None:
    assert cache.add("k", 999.0) is True
    assert len(cache) == 0
    assert cache.add("k", 999.0) is True


def test_expired_entries_are_dropped(cache: MemoryReplayCache, clock: Clock) -> None:
    for number in range(100):
        cache.add(f"k{number}", 1_000.0 + number + 1)
    clock.now = 1_050.0
    assert len(cache) == 50
    clock.now = 2_000.0
    assert len(cache) == 0


def test_an_expiry_that_is_not_a_number_keeps_nothing(cache: MemoryReplayCache) -> None:
    assert cache.add("k", float("nan")) is True
    assert len(cache) == 0
