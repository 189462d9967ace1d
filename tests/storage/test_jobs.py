"""The job queue: one lease holder per job, expired leases taken over, results only from the holder."""

from __future__ import annotations

import datetime as dt
import threading

from storage import jobs, lifecycle
from storage.clock import Clock
from storage.models import Job, ProcessorRequest


def enqueue(database, count=1, **fields):
    with database.transaction() as session:
        return [jobs.enqueue(session, kind="archive", request_id=None, **fields).id for _ in range(count)]


def claim(database, owner="w1", lease=60, now=None, max_failures=8):
    with database.transaction() as session:
        return jobs.claim_next(session, owner=owner, lease_seconds=lease, now=now, max_failures=max_failures)


def state_of(database, job_id):
    with database.transaction() as session:
        job = session.get(Job, job_id)
        return job.state, job.attempts, job.lease_owner


def failures_of(database, job_id):
    with database.transaction() as session:
        job = session.get(Job, job_id)
        return job.failures, job.last_error


def after(seconds):
    return Clock().now() + dt.timedelta(seconds=seconds)


def test_a_claimed_job_is_not_claimed_again_while_its_lease_lasts(database):
    [job_id] = enqueue(database)
    first = claim(database, "w1")
    assert (first.id, first.attempts, first.owner) == (job_id, 1, "w1")
    assert claim(database, "w2") is None


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_finish(database):
    [job_id] = enqueue(database)
    old = claim(database, "w1", lease=60)
    new = claim(database, "w2", now=Clock().now() + dt.timedelta(seconds=61))
    assert (new.id, new.attempts) == (job_id, 2)
    with database.transaction() as session:
        assert jobs.finish(session, old) is False
        assert jobs.extend_lease(session, old, lease_seconds=60) is False
    with database.transaction() as session:
        assert jobs.finish(session, new) is True
    assert state_of(database, job_id) == ("done", 2, None)


def test_a_job_queued_for_later_waits_until_it_is_due(database):
    enqueue(database, run_after=Clock().now() + dt.timedelta(seconds=30))
    assert claim(database) is None
    assert claim(database, now=Clock().now() + dt.timedelta(seconds=31)) is not None


def test_retry_later_requeues_with_the_error_and_release_does_not_count_the_attempt(database):
    [job_id] = enqueue(database)
    job = claim(database)
    with database.transaction() as session:
        jobs.retry_later(session, job, run_after=Clock().now(), error="download timeout")
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


def test_taking_over_an_expired_lease_counts_a_failed_attempt(database):
    [job_id] = enqueue(database)
    claim(database, "w1", lease=60)
    taken = claim(database, "w2", now=after(61))
    assert (taken.attempts, taken.failures) == (2, 1)
    failures, last_error = failures_of(database, job_id)
    assert failures == 1 and "attempt 1 ended without a result" in last_error and "lease expired" in last_error


def test_retries_count_failures_and_planned_work_starts_them_over(database):
    [job_id] = enqueue(database)

    def end(job, how, **arguments):
        with database.transaction() as session:
            getattr(jobs, how)(session, job, run_after=Clock().now(), **arguments)

    end(claim(database), "retry_later", error="timeout")
    assert claim(database).failures == 1
    end(claim(database, now=after(61)), "retry_later", error="timeout")
    assert failures_of(database, job_id)[0] == 3  # a retry, a lease taken over, a retry
    end(claim(database), "reschedule", note="not yet")
    assert failures_of(database, job_id) == (0, "not yet")
    assert state_of(database, job_id)[1] == 4  # attempts still count every claim (the polls)


def test_a_job_whose_worker_died_on_each_allowed_attempt_is_never_handed_out_again(database):
    [job_id] = enqueue(database)
    for attempt in range(3):
        held = claim(database, f"w{attempt}", lease=60, now=after(61 * attempt), max_failures=3)
        assert (held.id, held.attempts) == (job_id, attempt + 1)
    assert claim(database, "w9", now=after(61 * 3), max_failures=3) is None
    with database.transaction() as session:
        [poisoned] = jobs.fail_poison(session, max_failures=3, now=after(61 * 3))
    assert (poisoned.id, poisoned.attempts) == (job_id, 3)
    assert "worker died" in poisoned.reason and "3 failed attempts in a row" in poisoned.reason
    assert state_of(database, job_id) == ("failed", 3, None)
    assert failures_of(database, job_id) == (3, poisoned.reason)
    with database.transaction() as session:
        assert jobs.fail_poison(session, max_failures=3, now=after(3600)) == []


def test_fail_poison_leaves_live_leases_and_jobs_with_failures_to_spare(database):
    live, spare = enqueue(database, 2)
    claim(database, "w1", lease=600)
    claim(database, "w2", lease=60)
    with database.transaction() as session:
        assert jobs.fail_poison(session, max_failures=2, now=after(120)) == []
    assert claim(database, "w3", now=after(120), max_failures=2).id == spare
    with database.transaction() as session:
        [poisoned] = jobs.fail_poison(session, max_failures=2, now=after(500))
    assert poisoned.id == spare
    assert state_of(database, live) == ("running", 1, "w1")


def test_an_ops_retry_starts_attempts_and_failures_over(database):
    with database.transaction() as session:
        request = ProcessorRequest(id="req-1", provider="messagebird", kind="KIND_PERSONAL_GET")
        session.add(request)
        lifecycle.start(request)
    [job_id] = enqueue(database)
    with database.transaction() as session:
        session.get(Job, job_id).request_id = "req-1"
    job = claim(database)
    with database.transaction() as session:
        jobs.give_up(session, job, error="http 404")
    assert failures_of(database, job_id)[0] == 1
    with database.transaction() as session:
        jobs.requeue_for(session, "req-1")
    assert failures_of(database, job_id) == (0, None)
    assert state_of(database, job_id) == ("queued", 0, None)
