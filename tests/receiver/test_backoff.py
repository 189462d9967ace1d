"""The one retry delay: doubling per attempt, jittered between half and all, capped."""

from __future__ import annotations

import pytest

from receiver.backoff import backoff_seconds


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (0, 0.5)])
def test_the_delay_doubles_with_each_attempt_and_keeps_at_least_half(attempt, ceiling):
    delays = [backoff_seconds(attempt, base=0.5) for _ in range(200)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1  # jittered, not a fixed delay


def test_the_cap_bounds_every_delay():
    assert all(450 <= backoff_seconds(20, base=5, cap=900) <= 900 for _ in range(200))
