"""The deadline check against a real loopback HTTPS receiver and a real loopback SMTP server, on every backend:
each threshold crossed gives exactly one notification on each channel, also when the check runs twice and when
two workers run it at once; what is not due, paused or closed gives none; no personal data and no webhook URL
path anywhere but the request itself."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from receiver.jobs.deadline_check import DEADLINE_CHECK
from receiver.jobs.worker import Worker
from receiver.usecases.alerts import check_deadlines
from storage import case_registry, jobs, notifications
from storage.clock import Clock
from storage.models import Notification, NotificationDelivery
from tests.receiver.jobs.alerting import (
    PERSONAL,
    LogCapture,
    add_case,
    alerts_env,
    leaks,
    notify_jobs,
    run_worker,
    today,
    verified_posts,
)


@pytest.fixture
def app_env(app_env, https_server, smtp_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", https_server.ca_bundle)
    return alerts_env(app_env, https_server, smtp_server)


def cases_of_every_kind(services) -> dict[tuple[str, str, int | None], str]:
    """Cases and requests each due one notification (or none), and what each is due: (type, id, threshold)."""
    add_case(services, "case-5d", due_in=5)
    add_case(services, "case-2d", due_in=2, requests=("sent",))  # target 5 days ago: late
    add_case(services, "case-0d", due_in=0)
    add_case(services, "case-late", due_in=-2, requests=("completed",))
    add_case(services, "case-20d", due_in=20, requests=("failed", "sent"))
    add_case(services, "case-paused", due_in=2, paused=True)
    add_case(services, "case-closed", due_in=-3, closed=True, requests=("failed",))
    add_case(services, "case-40d", due_in=40)
    return {
        ("case.due_soon", "case-5d", 7): "",
        ("case.due_soon", "case-2d", 3): "",
        ("case.due_soon", "case-0d", 1): "",
        ("case.overdue", "case-late", None): "",
        ("request.failed", "case-20d-r0", None): "",
        ("request.late", "case-2d-r0", None): "",
    }


def what_was_sent(message: dict) -> tuple[str, str, int | None]:
    data = message["data"]
    return message["type"], data.get("requestId", data["caseId"]), data.get("thresholdDays")


def count(services, model) -> int:
    with services.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_each_threshold_crossed_is_sent_once_on_each_channel_even_when_the_check_runs_twice(
    services, https_server, smtp_server
):
    expected = cases_of_every_kind(services)
    with LogCapture() as logs:
        run_worker(services)
        with services.database.transaction() as session:
            jobs.enqueue(session, kind=DEADLINE_CHECK, request_id=None)  # the check again, due now
        run_worker(services)
    posted = verified_posts(https_server)
    assert sorted(map(what_was_sent, posted), key=str) == sorted(expected, key=str)
    with services.database.transaction() as session:
        ids = {n.id for n in notifications.recorded(session)}
    assert {message["id"] for message in posted} == ids and len(ids) == len(expected)
    assert sorted(m.message["Message-ID"] for m in smtp_server.messages) == sorted(f"<{i}@example.com>" for i in ids)
    assert all(m.rcpt_tos == ["dpo@example.com", "ops@example.com"] for m in smtp_server.messages)
    assert (count(services, Notification), count(services, NotificationDelivery)) == (6, 12)
    assert {job.state for job in notify_jobs(services)} == {jobs.DONE}
    assert len(logs.events("notification.sent")) == 12 and len(logs.events("deadline_check.finished")) == 2
    bodies = [body.decode() for _path, _headers, body in https_server.posts]
    emails = [m.message.as_string() for m in smtp_server.messages]
    assert leaks(logs.text) == [] and leaks("\n".join(bodies + emails)) == []


def test_a_message_says_which_case_when_it_is_due_and_how_many_days_are_left(services, https_server):
    add_case(services, "case-2d", due_in=2, requests=("sent",))
    run_worker(services)
    by_type = {message["type"]: message for message in verified_posts(https_server)}
    due_on = (today() + dt.timedelta(days=2)).isoformat()
    assert by_type["case.due_soon"]["data"] == {
        "caseId": "case-2d",
        "subjectRef": "T-case-2d",
        "right": "access",
        "jurisdiction": "EU",
        "dueOn": due_on,
        "daysLeft": 2,
        "thresholdDays": 3,
    }
    assert by_type["request.late"]["data"] == {
        "caseId": "case-2d",
        "subjectRef": "T-case-2d",
        "right": "access",
        "jurisdiction": "EU",
        "dueOn": due_on,
        "daysLeft": 2,
        "requestId": "case-2d-r0",
        "provider": "messagebird",
        "kind": "KIND_PERSONAL_GET",
        "state": "sent",
        "targetOn": (today() - dt.timedelta(days=5)).isoformat(),
    }
    assert by_type["case.due_soon"]["timestamp"].endswith("Z")


def test_a_deadline_that_moves_gets_its_reminder_again(services, https_server):
    add_case(services, "case-2d", due_in=2)
    run_worker(services)
    with services.database.transaction() as session:
        extended = case_registry.find(session, "case-2d", for_update=True)
        extended.due_on = today() + dt.timedelta(days=1)
        jobs.enqueue(session, kind=DEADLINE_CHECK, request_id=None)
    run_worker(services)
    assert [(m["data"]["dueOn"], m["data"]["thresholdDays"]) for m in verified_posts(https_server)] == [
        ((today() + dt.timedelta(days=2)).isoformat(), 3),
        ((today() + dt.timedelta(days=1)).isoformat(), 1),
    ]


def test_two_workers_checking_at_once_record_and_send_each_notification_once(
    services, https_server, smtp_server, monkeypatch
):
    """On PostgreSQL both checks read before either writes (a barrier holds the first until the second has read);
    on SQLite the writer's turn serialises the two transactions, which is what it is for."""
    expected = cases_of_every_kind(services)
    if services.database.dialect == "postgresql":
        both_read = threading.Barrier(2, timeout=20)
        read = case_registry.running_due_by

        def read_then_wait(session, last_day):
            found = read(session, last_day)
            both_read.wait()
            return found

        monkeypatch.setattr(case_registry, "running_due_by", read_then_wait)
    with services.database.transaction() as session:
        for _ in range(2):
            jobs.enqueue(session, kind=DEADLINE_CHECK, request_id=None)
    workers = [threading.Thread(target=Worker(services).run, kwargs={"once": True}) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    posted = verified_posts(https_server)
    assert sorted(map(what_was_sent, posted), key=str) == sorted(expected, key=str)
    assert len({message["id"] for message in posted}) == len(posted) == len(smtp_server.messages) == 6
    assert (count(services, Notification), count(services, NotificationDelivery)) == (6, 12)


def test_nothing_is_recorded_for_cases_paused_closed_or_far_from_their_deadline(services):
    add_case(services, "case-paused", due_in=1, paused=True)
    add_case(services, "case-closed", due_in=-3, closed=True, requests=("failed",))
    add_case(services, "case-40d", due_in=40, requests=("sent",))
    with services.database.transaction() as session:
        recorded = check_deadlines(session, services.settings, ("webhook",), today=today(), now=Clock().now())
    assert recorded == [] and count(services, Notification) == 0


def test_without_a_channel_no_check_is_queued(services):
    services.notifiers = type(services.notifiers)()
    Worker(services).run(once=True)
    with services.database.transaction() as session:
        assert jobs.pending_count(session, DEADLINE_CHECK) == 0


def test_the_stored_message_holds_no_personal_data(services):
    add_case(services, "case-0d", due_in=0, requests=("failed",))
    with services.database.transaction() as session:
        check_deadlines(session, services.settings, ("webhook",), today=today(), now=Clock().now())
        payloads = [json.loads(n.payload) for n in notifications.recorded(session)]
    assert {p["type"] for p in payloads} == {"case.due_soon", "request.failed"}
    assert not any(value in json.dumps(payloads) for value in PERSONAL)
