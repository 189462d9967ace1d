"""The service's one clock: aware UTC, stopped where a test sets it, carried by the database to what it stamps."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from storage.clock import Clock, clock_of
from storage.models import Job
from storage.replay import DatabaseReplayCache

STOPPED_AT = dt.datetime(2024, 3, 4, 23, 30, tzinfo=dt.UTC)


def test_it_runs_with_the_wall_clock_in_utc():
    before = dt.datetime.now(dt.UTC)
    now = Clock().now()
    assert now.tzinfo is dt.UTC and before <= now <= dt.datetime.now(dt.UTC)


def test_a_set_clock_stays_where_it_was_set_until_let_go():
    clock = Clock()
    clock.set(STOPPED_AT.astimezone(dt.timezone(dt.timedelta(hours=2))))
    assert (clock.now(), clock.today(), clock.timestamp()) == (STOPPED_AT, STOPPED_AT.date(), STOPPED_AT.timestamp())
    assert clock.now().tzinfo is dt.UTC
    clock.set(None)
    assert clock.now() > STOPPED_AT


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Clock(STOPPED_AT.replace(tzinfo=None))


def test_the_database_stamps_rows_and_replay_keys_by_its_clock(database):
    database.clock.set(STOPPED_AT)
    with database.transaction() as session:
        assert clock_of(session) is database.clock
        session.add(Job(kind="reconcile", state="queued", attempts=0))
    with database.reading() as connection:
        assert clock_of(connection) is database.clock
        job = connection.execute(select(Job.created_at, Job.updated_at, Job.run_after)).one()
    assert tuple(job) == (STOPPED_AT, STOPPED_AT, STOPPED_AT)
    assert DatabaseReplayCache(database).now() == STOPPED_AT.timestamp()
