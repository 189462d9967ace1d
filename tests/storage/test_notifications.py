"""Notifications in storage: each key recorded once (also while another transaction records it), a delivery and
a job per channel, the message as sent, and the deliveries counted by state."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from sqlalchemy import func, select

from storage import jobs, notifications
from storage.db import Database
from storage.models import Case, Job, Notification, NotificationDelivery

NOW = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)


def add_case(database: Database, case_id: str = "case-1") -> str:
    with database.transaction() as session:
        session.add(
            Case(
                id=case_id,
                subject_ref="T-42",
                right="access",
                jurisdiction="EU",
                received_on=dt.date(2026, 11, 10),
                due_on=dt.date(2026, 12, 10),
                original_due_on=dt.date(2026, 12, 10),
                created_by="test",
            )
        )
    return case_id


def due_soon(case_id: str, threshold: int = 7) -> notifications.NewNotification:
    return notifications.NewNotification(
        dedupe_key=f"case.due_soon:{case_id}:{threshold}:2026-12-10",
        type="case.due_soon",
        case_id=case_id,
        request_id=None,
        threshold_days=threshold,
        data={"caseId": case_id, "dueOn": "2026-12-10", "daysLeft": 7},
    )


def record(database: Database, new: notifications.NewNotification, channels=notifications.CHANNELS) -> str | None:
    with database.transaction() as session:
        return notifications.record(session, new, channels=channels, now=NOW)


def count(database: Database, model) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_key_is_recorded_once_with_a_delivery_and_a_job_per_channel(database):
    case_id = add_case(database)
    first = record(database, due_soon(case_id))
    assert first is not None and first.startswith("msg_")
    assert record(database, due_soon(case_id)) is None
    assert record(database, due_soon(case_id, threshold=3)) is not None
    assert (count(database, Notification), count(database, NotificationDelivery), count(database, Job)) == (2, 4, 4)
    with database.transaction() as session:
        kinds = {job.kind for job in session.scalars(select(Job))}
        request_ids = {job.request_id for job in session.scalars(select(Job))}
    assert (kinds, request_ids) == ({notifications.NOTIFY}, {None})


def test_the_message_is_the_standard_webhooks_shape_and_its_job_finds_it(database):
    case_id = add_case(database)
    notification_id = record(database, due_soon(case_id), channels=[notifications.WEBHOOK])
    with database.transaction() as session:
        job_id = session.scalar(select(NotificationDelivery.job_id))
        delivery = notifications.delivery_of_job(session, job_id)
        assert notifications.delivery_of_job(session, job_id + 1000) is None
    assert (delivery.notification_id, delivery.channel, delivery.type) == (notification_id, "webhook", "case.due_soon")
    assert json.loads(delivery.payload) == {
        "type": "case.due_soon",
        "timestamp": "2026-12-02T09:30:00Z",
        "data": {"caseId": case_id, "dueOn": "2026-12-10", "daysLeft": 7},
    }


def test_a_key_recorded_by_a_transaction_still_open_is_not_recorded_again(database):
    """Two deadline checks at once: the second insert waits for the first transaction, then adds nothing."""
    case_id = add_case(database)
    second: list[str | None] = []
    with database.transaction() as session:
        assert notifications.record(session, due_soon(case_id), channels=notifications.CHANNELS, now=NOW)
        racer = threading.Thread(target=lambda: second.append(record(database, due_soon(case_id))))
        racer.start()
        time.sleep(0.5)
        assert racer.is_alive()  # waiting on the first transaction (PostgreSQL: the key; SQLite: the writer's turn)
    racer.join(timeout=10)
    assert second == [None]
    assert (count(database, Notification), count(database, NotificationDelivery), count(database, Job)) == (1, 2, 2)


def test_deliveries_are_counted_sent_pending_and_failed_by_channel(database):
    case_id = add_case(database)
    for threshold in (7, 3, 1):
        record(database, due_soon(case_id, threshold))
    with database.transaction() as session:
        rows = session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)).all()
        webhook = [row for row in rows if row.channel == "webhook"]
        notifications.mark_sent(session, webhook[0].id, at=NOW)
        session.get(Job, webhook[1].job_id).state = jobs.FAILED
        session.get(Job, next(row for row in rows if row.channel == "email").job_id).state = jobs.DONE
    with database.transaction() as session:
        assert notifications.delivery_counts(session) == {
            ("webhook", "sent"): 1,
            ("webhook", "failed"): 1,
            ("webhook", "pending"): 1,
            ("email", "pending"): 3,
        }
