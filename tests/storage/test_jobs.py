"""The job queue: one lease holder per job, expired leases taken over, results only from the holder."""

from __future__ import annotations

import datetime as dt
import threading

from storage import jobs
from storage.clock import utcnow
from storage.models import Job


def enqueue(database, count=1, **fields):
    with database.transaction() as session:
        return [jobs.enqueue(session, kind="archive", request_id=None, **fields).id for _ in range(count)]


def claim(database, owner="w1", lease=60, now=None):
    with database.transaction() as session:
        return jobs.claim_next(session, owner=owner, lease_seconds=lease, now=now)


def state_of(database, job_id):
    with database.transaction() as session:
        job = session.get(Job, job_id)
        return job.state, job.attempts, job.lease_owner


def test_a_claimed_job_is_not_claimed_again_while_its_lease_lasts(database):
    [job_id] = enqueue(database)
    first = claim(database, "w1")
    assert (first.id, first.attempts, first.owner) == (job_id, 1, "w1")
    assert claim(database, "w2") is None


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_finish(database):
    [job_id] = enqueue(database)
    old = claim(database, "w1", lease=60)
    new = claim(database, "w2", now=utcnow() + dt.timedelta(seconds=61))
    assert (new.id, new.attempts) == (job_id, 2)
    with database.transaction() as session:
        assert jobs.finish(session, old) is False
        assert jobs.extend_lease(session, old, lease_seconds=60) is False
    with database.transaction() as session:
        assert jobs.finish(session, new) is True
    assert state_of(database, job_id) == ("done", 2, None)


def test_a_job_queued_for_later_waits_until_it_is_due(database):
    enqueue(database, run_after=utcnow() + dt.timedelta(seconds=30))
    assert claim(database) is None
    assert claim(database, now=utcnow() + dt.timedelta(seconds=31)) is not None


def test_retry_later_requeues_with_the_error_and_release_does_not_count_the_attempt(database):
    [job_id] = enqueue(database)
    job = claim(database)
    with database.transaction() as session:
        jobs.retry_later(session, job, run_after=utcnow(), error="download timeout")
    again = claim(database)
    assert again.attempts == 2
    with database.transaction() as session:
        jobs.release(session, again)
    assert state_of(database, job_id) == ("queued", 1, None)


def test_a_given_up_job_is_not_claimed_again_and_keeps_its_error(database):
    [job_id] = enqueue(database)
    job = claim(database)
    with database.transaction() as session:
        jobs.give_up(session, job, error="not a zip")
    assert claim(database) is None
    with database.transaction() as session:
        assert session.get(Job, job_id).last_error == "not a zip"
    assert state_of(database, job_id) == ("failed", 1, None)


def test_queue_stats_count_waiting_and_running_jobs(database):
    enqueue(database, 3)
    claim(database)
    with database.transaction() as session:
        stats = jobs.queue_stats(session)
    assert stats.depth == 3
    assert stats.oldest_created_at is not None and stats.oldest_created_at.tzinfo is not None


def test_racing_workers_claim_each_job_exactly_once(database):
    job_ids = enqueue(database, 40)
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def work(owner: str) -> None:
        start.wait(timeout=10)
        while (job := claim(database, owner)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claimed) == sorted(job_ids)
