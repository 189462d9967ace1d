"""Prometheus metrics: counters kept by each process, gauges read from the database at scrape time.

Under gunicorn, several processes count; prometheus-client's multiprocess mode adds
them up when ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` sets one up).
The worker counts archive bytes and durations the same way; a worker on the web
host shares the directory, one elsewhere is scraped on its own host.

Request states, queue depth, the age of the oldest job, cases' deadlines,
notification deliveries and the audit chain's head are facts of the database, not of
a process, so ``DatabaseCollector`` reads them when scraped.
``receiver.web.metrics`` serves them at ``GET /metrics``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from deadlines import DEFAULT_PROCESSOR_MARGIN_DAYS
from storage import anchors, audit_chain, case_registry, jobs, notifications
from storage.db import Database
from storage.errors import StorageError
from storage.models import Case, Job, ProcessorRequest

CALLBACKS = Counter("receiver_callbacks_total", "Callback deliveries by verdict and reason", ["verdict", "reason"])
ARCHIVE_BYTES = Counter("receiver_archive_bytes_total", "Bytes of archives stored")
ARCHIVE_SECONDS = Histogram(
    "receiver_archive_duration_seconds",
    "Time to download and store one archive",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
JOB_OUTCOMES = Counter("receiver_jobs_total", "Jobs run by kind and outcome", ["kind", "outcome"])
PROVIDER_ERRORS = Counter("receiver_provider_api_errors_total", "Errors from provider APIs", ["provider", "reason"])
NOTIFICATIONS_SENT = Counter(
    "receiver_notifications_sent_total", "Notifications delivered, by type and channel", ["type", "channel"]
)
NOTIFICATIONS_FAILED = Counter(
    "receiver_notifications_failed_total",
    "Notification delivery attempts that failed (retried or given up), by type and channel",
    ["type", "channel"],
)


class DatabaseCollector(Collector):
    """Request states, job queue facts, cases' deadlines and notification deliveries, read at each scrape.

    The cases' facts follow ``storage.case_registry`` on today's UTC date: states as the API
    derives them, overdue as ``GET /api/cases?overdue=true`` finds them, due within 7
    days (running clock, deadline today or in the next 7 days), and requests of open
    cases past their processor target (``PROCESSOR_MARGIN_DAYS``) and not ended.
    """

    def __init__(self, database: Database, *, margin_days: int = DEFAULT_PROCESSOR_MARGIN_DAYS) -> None:
        self._database = database
        self._margin_days = margin_days

    def collect(self) -> Iterator[Metric]:
        now = self._database.clock.now()
        try:
            with self._database.transaction() as session:
                found = [
                    *_request_and_queue_facts(session, now),
                    *_case_facts(session, now.date(), self._margin_days),
                    _delivery_facts(session),
                    *_chain_facts(session, now),
                ]
        except StorageError:
            return  # an unavailable database shows as missing series, and in /readyz
        yield from found


def _request_and_queue_facts(session: Session, now: dt.datetime) -> list[Metric]:
    states = GaugeMetricFamily("receiver_requests", "Requests by provider and state", labels=["provider", "state"])
    by_state = select(ProcessorRequest.provider, ProcessorRequest.state, func.count()).group_by(
        ProcessorRequest.provider, ProcessorRequest.state
    )
    for provider, state, count in session.execute(by_state):
        states.add_metric([provider, state], count)
    stats = jobs.queue_stats(session)
    depth = GaugeMetricFamily("receiver_job_queue_depth", "Jobs queued or running", value=stats.depth)
    age = (now - stats.oldest_created_at).total_seconds() if stats.oldest_created_at else 0.0
    oldest = GaugeMetricFamily("receiver_job_oldest_age_seconds", "Age of the oldest queued or running job", value=age)
    first_due = session.scalar(select(func.min(Job.run_after)).where(Job.state == jobs.QUEUED, Job.run_after <= now))
    waited = (now - _aware(first_due)).total_seconds() if first_due is not None else 0.0
    due = GaugeMetricFamily(
        "receiver_job_oldest_due_seconds",
        "How long the job that has waited longest since it became due has waited (0: none)",
        value=waited,
    )
    return [states, depth, oldest, due]


def _case_facts(session: Session, today: dt.date, margin_days: int) -> list[Metric]:
    by_state = GaugeMetricFamily("receiver_cases", "Cases by derived state", labels=["state"])
    for state in case_registry.STATES:
        count = session.scalar(
            select(func.count(Case.id)).where(case_registry.state_is(state, today=today, margin_days=margin_days))
        )
        by_state.add_metric([state], count or 0)
    overdue = session.scalar(select(func.count(Case.id)).where(case_registry.overdue_condition(today))) or 0
    soon = (
        session.scalar(
            select(func.count(Case.id)).where(
                Case.responded_on.is_(None),
                Case.paused_since.is_(None),
                Case.due_on >= today,
                Case.due_on <= today + dt.timedelta(days=7),
            )
        )
        or 0
    )
    late = sum(
        1
        for request, _case in case_registry.requests_needing_attention(session, today=today, margin_days=margin_days)
        if request.state not in case_registry.ENDED_STATES
    )
    return [
        by_state,
        GaugeMetricFamily("receiver_cases_overdue", "Open cases, clock running, past their deadline", value=overdue),
        GaugeMetricFamily(
            "receiver_cases_due_within_7_days",
            "Open cases, clock running, due today or within the next 7 days",
            value=soon,
        ),
        GaugeMetricFamily(
            "receiver_requests_past_target",
            "Processor requests of open cases past their target and not ended",
            value=late,
        ),
    ]


def _delivery_facts(session: Session) -> Metric:
    deliveries = GaugeMetricFamily(
        "receiver_notification_deliveries",
        "Notification deliveries by channel and state (sent, pending, failed: given up)",
        labels=["channel", "state"],
    )
    for (channel, state), count in sorted(notifications.delivery_counts(session).items()):
        deliveries.add_metric([channel, state], count)
    return deliveries


def _chain_facts(session: Session, now: dt.datetime) -> list[Metric]:
    """The audit chain's head now, and its daily checkpoint: the head as it stood at 00:00 UTC today.

    The checkpoint's hash is a label that changes once a day, so Prometheus keeps one
    series a day of it: a copy of the head outside the database, to check a later
    ``flask audit verify --expect-head SEQ:HASH`` against.
    """
    connection = session.connection()
    midnight = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
    current, checkpoint = audit_chain.head(connection), audit_chain.head_before(connection, midnight)
    info = GaugeMetricFamily(
        "receiver_audit_chain_checkpoint_info",
        "The audit chain's head at 00:00 UTC today: its hash (always 1)",
        labels=["at", "hash"],
    )
    info.add_metric([midnight.strftime("%Y-%m-%dT%H:%M:%SZ"), checkpoint.hash], 1)
    return [
        GaugeMetricFamily(
            "receiver_audit_chain_head_seq", "Entries in the audit chain (the head's seq)", value=current.seq
        ),
        GaugeMetricFamily(
            "receiver_audit_chain_checkpoint_seq", "The audit chain's head seq at 00:00 UTC today", value=checkpoint.seq
        ),
        info,
        *_anchor_facts(connection),
    ]


def _anchor_facts(connection: Connection) -> list[Metric]:
    """The newest anchor's seq and the time its authority signed (both 0 while nothing was ever anchored)."""
    newest = anchors.newest(connection)
    seq, stamped = (newest[0], newest[1].timestamp()) if newest is not None else (0, 0.0)
    return [
        GaugeMetricFamily("receiver_audit_anchor_seq", "The audit chain's seq the newest anchor covers", value=seq),
        GaugeMetricFamily(
            "receiver_audit_anchor_stamped_seconds",
            "When the time-stamping authority signed the newest anchor (Unix time; 0: never)",
            value=stamped,
        ),
    ]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def registry_for(database: Database, *, margin_days: int = DEFAULT_PROCESSOR_MARGIN_DAYS) -> CollectorRegistry:
    """A registry with every process's counters (multiprocess mode) or this one's, plus the database's facts."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (
            CALLBACKS,
            ARCHIVE_BYTES,
            ARCHIVE_SECONDS,
            JOB_OUTCOMES,
            PROVIDER_ERRORS,
            NOTIFICATIONS_SENT,
            NOTIFICATIONS_FAILED,
        ):
            registry.register(collector)
    registry.register(DatabaseCollector(database, margin_days=margin_days))
    return registry
