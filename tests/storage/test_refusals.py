"""The sample of refused deliveries: fixed slots, a rate per process, batched writes, nothing of the content."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest
from sqlalchemy import event

from storage import refusals
from storage.refusals import Refusal, RefusalSamples

T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def refusal(n: int, at: dt.datetime = T0) -> Refusal:
    return Refusal(at + dt.timedelta(seconds=n), 401, "jwt_bad_signature", f"203.0.113.{n % 250}", "ab" * 32, n)


@pytest.fixture
def sampler(database):
    """``RefusalSamples`` on the test's database, each closed at teardown (no batch timer outlives the test)."""
    made = []

    def make(**options) -> RefusalSamples:
        made.append(RefusalSamples(database, **options))
        return made[-1]

    yield make
    for samples in made:
        samples.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_never_more_rows_than_the_cap_however_many_are_offered(database, sampler):
    clock = Clock()
    samples = sampler(cap=5, per_second=1000, clock=clock)
    for n in range(40):
        clock.now += 1
        assert samples.offer(lambda n=n: refusal(n)) is True
    samples.flush()
    with database.reading() as connection:
        kept = refusals.recent(connection, since=T0, limit=100)
    assert len(kept) == 5
    assert [r.body_bytes for r in kept] == [39, 38, 37, 36, 35]  # the most recent, newest first


def test_past_the_rate_a_refusal_is_counted_elsewhere_not_stored(database, sampler):
    clock = Clock()
    samples = sampler(cap=100, per_second=2, clock=clock)
    described = []

    def describe(n):
        described.append(n)
        return refusal(n)

    stored = [samples.offer(lambda n=n: describe(n)) for n in range(10)]  # all within one instant
    assert stored == [True] + [False] * 9
    clock.now += 0.5
    assert samples.offer(lambda: describe(10)) is True
    assert described == [0, 10]  # a refusal not sampled is never described (its body never hashed)


def test_a_cap_of_zero_stores_nothing(database, sampler):
    samples = sampler(cap=0)
    assert samples.offer(lambda: refusal(1)) is False
    assert samples.flush() == 0
    with database.reading() as connection:
        assert refusals.recent(connection, since=T0) == []


def test_old_samples_are_purged_and_not_shown(database, sampler):
    clock = Clock()
    samples = sampler(cap=10, per_second=1000, clock=clock)
    for n, at in enumerate((T0 - dt.timedelta(days=10), T0)):
        clock.now += 1
        samples.offer(lambda n=n, at=at: refusal(n, at))
    samples.flush()
    with database.reading() as connection:
        assert len(refusals.recent(connection, since=T0 - dt.timedelta(days=7))) == 1
    with database.connection() as connection:
        assert refusals.purge_older_than(connection, T0 - dt.timedelta(days=7)) == 1


def statements_counted(database):
    executed = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: executed.append(args[2]))
    return executed


def test_samples_are_written_in_one_statement_per_batch_not_one_transaction_each(database, sampler):
    clock = Clock()
    samples = sampler(cap=100, per_second=1000, flush_seconds=60, clock=clock)
    executed = statements_counted(database)
    for n in range(30):
        clock.now += 1
        samples.offer(lambda n=n: refusal(n))
    assert not [sql for sql in executed if "refused_deliveries" in sql]  # nothing written yet
    assert samples.flush() == 30
    assert len([sql for sql in executed if "refused_deliveries" in sql]) == 1
    with database.reading() as connection:
        assert len(refusals.recent(connection, since=T0, limit=100)) == 30


def test_a_pending_batch_is_written_within_flush_seconds_without_another_refusal(database, sampler):
    samples = sampler(cap=10, per_second=1000, flush_seconds=0.2)
    samples.offer(lambda: refusal(1))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with database.reading() as connection:
            if refusals.recent(connection, since=T0):
                break
        time.sleep(0.05)
    with database.reading() as connection:
        assert [r.body_bytes for r in refusals.recent(connection, since=T0)] == [1]


def test_a_batch_the_database_refuses_is_dropped_with_a_warning_not_raised(database, sampler, caplog):
    samples = sampler(cap=10, per_second=1000, flush_seconds=60)
    samples.offer(lambda: Refusal(T0, None, "no_status", None, None, None))  # NOT NULL: the batch is refused
    assert samples.flush() == 0
    assert "callback.samples_dropped" in caplog.text
    assert samples.flush() == 0  # dropped, not retried forever


def test_closing_writes_what_is_pending_and_keeps_nothing_after(database, sampler):
    samples = sampler(cap=10, per_second=1000, flush_seconds=60)
    samples.offer(lambda: refusal(1))
    samples.close()
    assert samples.offer(lambda: refusal(2)) is False
    with database.reading() as connection:
        assert [r.body_bytes for r in refusals.recent(connection, since=T0)] == [1]


def test_a_forked_child_writes_its_batch_on_its_own_timer(database, sampler):
    samples = sampler(cap=10, per_second=1000, flush_seconds=0.2)
    samples.offer(lambda: refusal(1))  # the parent's timer is running at the fork
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        signal.alarm(20)
        database.forget_inherited_connections()
        samples.offer(lambda: refusal(2))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with database.reading() as connection:
                if 2 in [r.body_bytes for r in refusals.recent(connection, since=T0)]:
                    os._exit(0)
            time.sleep(0.05)
        os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
