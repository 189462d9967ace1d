"""The sample of refused deliveries: a fixed number of slots, a rate per process, nothing of the content."""

from __future__ import annotations

import datetime as dt

from storage import refusals
from storage.refusals import Refusal, RefusalSamples

T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def refusal(n: int, at: dt.datetime = T0) -> Refusal:
    return Refusal(at + dt.timedelta(seconds=n), 401, "jwt_bad_signature", f"203.0.113.{n % 250}", "ab" * 32, n)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_never_more_rows_than_the_cap_however_many_are_offered(database):
    clock = Clock()
    samples = RefusalSamples(database, cap=5, per_second=1000, clock=clock)
    for n in range(40):
        clock.now += 1
        assert samples.offer(refusal(n)) is True
    with database.reading() as connection:
        kept = refusals.recent(connection, since=T0, limit=100)
    assert len(kept) == 5
    assert [r.body_bytes for r in kept] == [39, 38, 37, 36, 35]  # the most recent, newest first


def test_past_the_rate_a_refusal_is_counted_elsewhere_not_stored(database):
    clock = Clock()
    samples = RefusalSamples(database, cap=100, per_second=2, clock=clock)
    stored = [samples.offer(refusal(n)) for n in range(10)]  # all within one instant
    assert stored == [True] + [False] * 9
    clock.now += 0.5
    assert samples.offer(refusal(10)) is True


def test_a_cap_of_zero_stores_nothing(database):
    samples = RefusalSamples(database, cap=0)
    assert samples.offer(refusal(1)) is False
    with database.reading() as connection:
        assert refusals.recent(connection, since=T0) == []


def test_old_samples_are_purged_and_not_shown(database):
    clock = Clock()
    samples = RefusalSamples(database, cap=10, per_second=1000, clock=clock)
    for n, at in enumerate((T0 - dt.timedelta(days=10), T0)):
        clock.now += 1
        samples.offer(refusal(n, at))
    with database.reading() as connection:
        assert len(refusals.recent(connection, since=T0 - dt.timedelta(days=7))) == 1
    with database.connection() as connection:
        assert refusals.purge_older_than(connection, T0 - dt.timedelta(days=7)) == 1
