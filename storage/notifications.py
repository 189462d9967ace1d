"""Notifications: each alert recorded once, then sent on every channel by a job of its own.

``record`` inserts a notification under its ``dedupe_key`` with ``ON CONFLICT DO
NOTHING`` (SQLite and PostgreSQL alike), and only when the row is new adds, in the
same transaction, one delivery per channel and the ``notify`` job that sends it. So
a deadline check that runs twice, or on two workers at once, records an alert once
and queues its deliveries once: the second insert finds the key taken (on
PostgreSQL it waits for the first transaction and then does nothing) and adds
nothing. A delivery's job is leased like any other, so one worker sends it at a
time, and retried with the worker's backoff.

A delivery is ``sent`` once ``sent_at`` is recorded (in the transaction that ends its
job), ``failed`` when its job was given up, ``pending`` otherwise. Sending and
recording are two steps: a worker that dies between them leaves the job to be run
again after its lease, and the notification is sent a second time under the same
id (``webhook-id``), which a receiver deduplicates on.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage import jobs
from storage.models import Job, Notification, NotificationDelivery

NOTIFY = "notify"  #: the job kind that sends one delivery

WEBHOOK = "webhook"
EMAIL = "email"
CHANNELS = (WEBHOOK, EMAIL)

SENT, PENDING, FAILED = "sent", "pending", "failed"


@dataclass(frozen=True)
class NewNotification:
    """An alert to record: what it is about (``dedupe_key``), its type, and the ``data`` of its message."""

    dedupe_key: str
    type: str
    case_id: str
    request_id: str | None
    threshold_days: int | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class OutgoingNotification:
    """A notification on one channel, as its job needs it: detached from any session."""

    id: int
    notification_id: str
    channel: str
    type: str
    payload: str
    created_at: dt.datetime
    sent_at: dt.datetime | None


def new_notification_id() -> str:
    """A message id in Standard Webhooks' style (``msg_...``): the ``webhook-id`` of every attempt."""
    return "msg_" + uuid.uuid4().hex


def message(type_: str, data: Mapping[str, Any], *, at: dt.datetime) -> str:
    """The Standard Webhooks message: ``{"type", "timestamp", "data"}`` as compact JSON."""
    timestamp = at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": type_, "timestamp": timestamp, "data": dict(data)}, separators=(",", ":"))


def record(session: Session, new: NewNotification, *, channels: Iterable[str], now: dt.datetime) -> str | None:
    """Record ``new`` and queue one delivery per channel; its id, or None when its key was recorded before."""
    notification_id = new_notification_id()
    values = {
        "id": notification_id,
        "dedupe_key": new.dedupe_key,
        "type": new.type,
        "case_id": new.case_id,
        "request_id": new.request_id,
        "threshold_days": new.threshold_days,
        "payload": message(new.type, new.data, at=now),
        "created_at": now,
    }
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(Notification)
    statement = insert.values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    if session.execute(statement.returning(Notification.id)).scalar_one_or_none() is None:
        return None  # recorded before
    for channel in channels:
        job = jobs.enqueue(session, kind=NOTIFY, request_id=None)
        session.add(NotificationDelivery(notification_id=notification_id, channel=channel, job_id=job.id))
    session.flush()
    return notification_id


def delivery_of_job(session: Session, job_id: int) -> OutgoingNotification | None:
    """The delivery the ``notify`` job ``job_id`` sends, with its notification's message."""
    row = session.execute(
        select(NotificationDelivery, Notification)
        .join(Notification, NotificationDelivery.notification_id == Notification.id)
        .where(NotificationDelivery.job_id == job_id)
    ).first()
    if row is None:
        return None
    delivery, notification = row
    return OutgoingNotification(
        delivery.id,
        notification.id,
        delivery.channel,
        notification.type,
        notification.payload,
        notification.created_at,
        delivery.sent_at,
    )


def mark_sent(session: Session, delivery_id: int, *, at: dt.datetime) -> None:
    delivery = session.get(NotificationDelivery, delivery_id)
    if delivery is not None and delivery.sent_at is None:
        delivery.sent_at = at
        session.flush()


def delivery_counts(session: Session) -> dict[tuple[str, str], int]:
    """How many deliveries each channel has in each state (``sent``, ``pending``, ``failed``: its job given up)."""
    sent = NotificationDelivery.sent_at.is_not(None)
    statement = (
        select(NotificationDelivery.channel, sent, Job.state, func.count())
        .join(Job, NotificationDelivery.job_id == Job.id)
        .group_by(NotificationDelivery.channel, sent, Job.state)
    )
    counts: dict[tuple[str, str], int] = {}
    for channel, was_sent, job_state, count in session.execute(statement):
        state = SENT if was_sent else FAILED if job_state == jobs.FAILED else PENDING
        counts[(channel, state)] = counts.get((channel, state), 0) + count
    return counts


def recorded(session: Session) -> list[Notification]:
    """Every notification, oldest first (for ops and tests)."""
    return list(session.scalars(select(Notification).order_by(Notification.created_at, Notification.id)))
