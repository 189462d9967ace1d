"""The one retry schedule: doubling per attempt, capped; the retry delay jittered between half and all of it."""

from __future__ import annotations

import pytest

from receiver.backoff import backoff_seconds, doubling_seconds


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (0, 0.5)])
def test_the_delay_doubles_with_each_attempt_and_keeps_at_least_half(attempt, ceiling):
    delays = [backoff_seconds(attempt, base=0.5) for _ in range(200)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1  # jittered, not a fixed delay


def test_the_cap_bounds_every_delay():
    assert all(450 <= backoff_seconds(20, base=5, cap=900) <= 900 for _ in range(200))


def test_the_schedule_without_jitter_doubles_up_to_the_cap():
    assert [doubling_seconds(attempt, base=900, cap=14400) for attempt in range(0, 8)] == [
        900.0,
        900.0,
        1800.0,
        3600.0,
        7200.0,
        14400.0,
        14400.0,
        14400.0,
    ]
    assert doubling_seconds(40, base=0.5) == 0.5 * 2**39  # no cap: it keeps doubling
