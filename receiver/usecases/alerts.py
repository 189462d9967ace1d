"""The alert selection: find what is about to be late, or is late, and record one notification for each.

``run_deadline_check`` (the ``deadline_check`` job, while a notification channel is
configured) looks, on today's UTC date, for:

- ``case.due_soon``: an open case whose clock runs and which has reached a reminder
  threshold of ``NOTIFY_DAYS_BEFORE`` (``deadlines.thresholds_reached``); only the
  smallest threshold reached is sent;
- ``case.overdue``: an open case whose clock runs, past its deadline;
- ``request.failed``: a processor request of an open case that failed;
- ``request.late``: a processor request of an open case past its target and not ended
  (``storage.case_registry.requests_needing_attention``; the target is ``deadlines.target_on``
  of the deadline as stored);
- ``case.answer_not_downloaded``: a link to the subject's answer expired before one
  complete download, and no other link of the case was downloaded (``subject_links``).

Each is recorded (``storage.notifications.record``) under a key naming the case or
request, the type, the threshold and the date in question, so each is sent once however
often the check runs, on however many workers; a deadline that moves gets its reminders
again, and so does a request that fails again after a retry. A notification's data is
ids, the subject reference, dates and days: never a case's notes or any personal data.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from deadlines import days_left, is_overdue, target_on, thresholds_reached
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import job_runs, subject_links
from settings import Settings
from storage import case_registry, lifecycle, notifications
from storage.jobs import ClaimedJob
from storage.models import Case, ProcessorRequest
from storage.notifications import NewNotification

log = get_logger("receiver.jobs.deadline_check")  # the job's log, as its events have always been named

DEADLINE_CHECK = "deadline_check"

DUE_SOON, OVERDUE, REQUEST_FAILED, REQUEST_LATE = "case.due_soon", "case.overdue", "request.failed", "request.late"


def run_deadline_check(services: Services, job: ClaimedJob) -> None:
    """Record the notifications due today and queue the next check (while a channel is configured), ending ``job``."""
    channels = services.notifiers.channels
    now = services.clock.now()
    with services.database.transaction() as session:
        job_runs.finish(session, job)
        recorded = check_deadlines(session, services.settings, channels, today=now.date(), now=now) if channels else []
        if channels:
            job_runs.queue_next(
                session, DEADLINE_CHECK, seconds=services.settings.deadline_check_interval_seconds, now=now
            )
    for alert, notification_id in recorded:
        log.info(
            "notification.recorded",
            notification_id=notification_id,
            type=alert.type,
            case_id=alert.case_id,
            request_id=alert.request_id,
            threshold_days=alert.threshold_days,
            channels=list(channels),
        )
    log.info("deadline_check.finished", recorded=len(recorded), by_type=dict(Counter(a.type for a, _ in recorded)))


def check_deadlines(
    session: Session, settings: Settings, channels: Sequence[str], *, today: dt.date, now: dt.datetime
) -> list[tuple[NewNotification, str]]:
    """Record every notification due on ``today`` not recorded before; those recorded now, with their ids."""
    found = [
        *case_alerts(session, today=today, thresholds=settings.notify_days_before),
        *request_alerts(session, today=today, margin_days=settings.processor_margin_days),
        *subject_links.unused_link_alerts(session, now=now),
    ]
    recorded = []
    for alert in found:
        notification_id = notifications.record(session, alert, channels=channels, now=now)
        if notification_id is not None:
            recorded.append((alert, notification_id))
    return recorded


def case_alerts(session: Session, *, today: dt.date, thresholds: tuple[int, ...]) -> Iterator[NewNotification]:
    """``case.overdue`` or the smallest ``case.due_soon`` threshold reached, for each open case whose clock runs."""
    last_day = today + dt.timedelta(days=max(thresholds, default=0))
    for case in case_registry.running_due_by(session, last_day):
        if is_overdue(case.due_on, today=today):
            yield _case_alert(case, OVERDUE, None, today)
            continue
        reached = thresholds_reached(case.due_on, today=today, thresholds=thresholds)
        if reached:
            yield _case_alert(case, DUE_SOON, min(reached), today)


def request_alerts(session: Session, *, today: dt.date, margin_days: int) -> Iterator[NewNotification]:
    """``request.failed`` or ``request.late`` for each request of an open case that failed or is past its target."""
    for request, case in case_registry.requests_needing_attention(session, today=today, margin_days=margin_days):
        if request.state == lifecycle.FAILED:
            failed_at = request.failed_at.isoformat() if request.failed_at else "-"
            yield _request_alert(request, case, REQUEST_FAILED, failed_at, today, margin_days)
        else:
            target = stored_target(case, margin_days).isoformat()
            yield _request_alert(request, case, REQUEST_LATE, target, today, margin_days)


def stored_target(case: Case, margin_days: int) -> dt.date:
    """``deadlines.target_on`` of the deadline as stored: the target ``requests_needing_attention`` judged by."""
    return target_on(case.due_on, counted_from=case.clock_starts_on or case.received_on, margin_days=margin_days)


def _case_data(case: Case, today: dt.date) -> dict[str, Any]:
    return {
        "caseId": case.id,
        "subjectRef": case.subject_ref,
        "right": case.right,
        "jurisdiction": case.jurisdiction,
        "dueOn": case.due_on.isoformat(),
        "daysLeft": days_left(case.due_on, today=today),
    }


def _case_alert(case: Case, type_: str, threshold: int | None, today: dt.date) -> NewNotification:
    data = _case_data(case, today) | ({"thresholdDays": threshold} if threshold is not None else {})
    key = f"{type_}:{case.id}:{'-' if threshold is None else threshold}:{case.due_on.isoformat()}"
    return NewNotification(key, type_, case.id, None, threshold, data)


def _request_alert(
    request: ProcessorRequest, case: Case, type_: str, about: str, today: dt.date, margin_days: int
) -> NewNotification:
    data = _case_data(case, today) | {
        "requestId": request.id,
        "provider": request.provider,
        "kind": request.kind,
        "state": request.state,
        "targetOn": stored_target(case, margin_days).isoformat(),
    }
    return NewNotification(f"{type_}:{request.id}:{about}", type_, case.id, request.id, None, data)
