"""The notify job against a real loopback HTTPS receiver and a real loopback SMTP server, on every backend: a
receiver that fails gets retries with the worker's backoff and the same message each time; a loopback receiver
not named in NOTIFY_PRIVATE_HOSTS is refused and never connected to, while the other channel still delivers; the
reasons name the origin alone."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from receiver.observability.metrics import NOTIFICATIONS_FAILED, NOTIFICATIONS_SENT
from receiver.usecases.alerts import check_deadlines
from storage import jobs, notifications, registry
from storage.clock import Clock
from storage.models import Job
from tests.receiver.jobs.alerting import (
    LogCapture,
    add_case,
    alerts_env,
    leaks,
    notify_jobs,
    run_worker,
    verified_posts,
)

HOOK_PATH = "/hooks/gdpr/"


@pytest.fixture
def app_env(app_env, https_server, smtp_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", https_server.ca_bundle)
    return {**alerts_env(app_env, https_server, smtp_server), "WORKER_MAX_ATTEMPTS": "4"}


def webhook_job(services) -> Job:
    [job] = [job for job in notify_jobs(services) if delivery_channel(services, job.id) == "webhook"]
    return job


def delivery_channel(services, job_id: int) -> str:
    with services.database.transaction() as session:
        return notifications.delivery_of_job(session, job_id).channel


def due_now(services, job_id: int) -> float:
    """Make the queued job due now; how long after its last attempt it was due (the backoff)."""
    with services.database.transaction() as session:
        job = session.get(Job, job_id)
        delay = (job.run_after - job.updated_at).total_seconds()
        session.execute(update(Job).where(Job.id == job_id).values(run_after=Clock().now()))
    return delay


def failed_count(type_: str, channel: str) -> float:
    return NOTIFICATIONS_FAILED.labels(type_, channel)._value.get()


def test_a_receiver_that_fails_gets_retries_with_backoff_and_the_same_message(services, https_server):
    https_server.route(HOOK_PATH + "tok-HOOK-5519", statuses=[503, 500, 200])
    add_case(services, "case-2d", due_in=2)
    failed_before = failed_count("case.due_soon", "webhook")
    sent_before = NOTIFICATIONS_SENT.labels("case.due_soon", "webhook")._value.get()
    run_worker(services)
    first = webhook_job(services)
    assert (first.state, first.failures) == (jobs.QUEUED, 1)
    assert first.last_error == f"webhook failed: http_503 at https://127.0.0.1:{https_server.port}"
    backoffs = [due_now(services, first.id)]
    run_worker(services)
    assert webhook_job(services).last_error == f"webhook failed: http_500 at https://127.0.0.1:{https_server.port}"
    backoffs.append(due_now(services, first.id))
    run_worker(services)
    done = webhook_job(services)
    assert (done.state, done.attempts) == (jobs.DONE, 3)
    assert 2.4 <= backoffs[0] <= 5.0 and 4.9 <= backoffs[1] <= 10.0  # 5 s doubling, with jitter (receiver.backoff)
    posted = verified_posts(https_server)
    assert len(posted) == 3 and len({message["id"] for message in posted}) == 1
    assert len({body for _path, _headers, body in https_server.posts}) == 1
    assert failed_count("case.due_soon", "webhook") - failed_before == 2
    assert NOTIFICATIONS_SENT.labels("case.due_soon", "webhook")._value.get() - sent_before == 1
    with services.database.transaction() as session:
        assert notifications.delivery_counts(session) == {("webhook", "sent"): 1, ("email", "sent"): 1}


def test_a_receiver_failing_every_attempt_is_given_up_without_touching_the_cases_requests(services, https_server):
    https_server.route(HOOK_PATH + "tok-HOOK-5519", statuses=[503])
    add_case(services, "case-20d", due_in=20, requests=("failed", "sent"))
    run_worker(services)
    for _ in range(3):
        due_now(services, webhook_job(services).id)
        run_worker(services)
    given_up = webhook_job(services)
    assert (given_up.state, given_up.failures) == (jobs.FAILED, 4)
    with services.database.transaction() as session:
        assert notifications.delivery_counts(session) == {("webhook", "failed"): 1, ("email", "sent"): 1}
        assert (given_up.request_id, registry.get(session, "case-20d-r1").state) == (None, "sent")


@pytest.fixture
def loopback_not_private(app_env, smtp_server):
    """The webhook receiver on loopback, but only the SMTP server named in NOTIFY_PRIVATE_HOSTS."""
    app_env["NOTIFY_PRIVATE_HOSTS"] = smtp_server.address
    return app_env


def test_a_loopback_receiver_not_named_private_is_refused_and_never_connected_to(
    loopback_not_private, services, https_server, smtp_server
):
    add_case(services, "case-0d", due_in=0)
    with LogCapture() as logs:
        run_worker(services)
    refused = webhook_job(services)
    assert (refused.state, refused.attempts) == (jobs.FAILED, 1)  # not retryable
    origin = f"https://127.0.0.1:{https_server.port}"
    assert refused.last_error == f"webhook failed: address_not_allowed at {origin} (loopback)"
    assert https_server.connections == 0 and https_server.posts == []
    assert len(smtp_server.messages) == 1  # the other channel delivers all the same
    [failed] = logs.events("job.failed")
    assert failed["reason"] == refused.last_error
    assert leaks(logs.text) == []


def test_a_channel_no_longer_configured_fails_its_deliveries_for_good(services):
    add_case(services, "case-0d", due_in=0)
    with services.database.transaction() as session:
        check_deadlines(session, services.settings, ("webhook", "email"), today=Clock().now().date(), now=Clock().now())
    services.notifiers = type(services.notifiers)(webhook=services.notifiers.webhook)
    run_worker(services)
    states = {delivery_channel(services, job.id): (job.state, job.last_error) for job in notify_jobs(services)}
    assert states["email"] == (jobs.FAILED, "email notifications are not configured any more")
    assert states["webhook"][0] == jobs.DONE


def test_a_delivery_sent_already_is_not_sent_again(services, https_server):
    add_case(services, "case-0d", due_in=0)
    run_worker(services)
    job = webhook_job(services)
    with services.database.transaction() as session:  # as if the job came back after its lease
        session.execute(update(Job).where(Job.id == job.id).values(state=jobs.QUEUED, run_after=Clock().now()))
    run_worker(services)
    assert len(https_server.posts) == 1 and webhook_job(services).state == jobs.DONE
