"""Prometheus metrics: counters kept by each process, gauges read from the database at scrape time.

Under gunicorn, several processes count; prometheus-client's multiprocess mode adds
them up when ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` sets one up).
The worker counts archive bytes and durations the same way; a worker on the web
host shares the directory, one elsewhere is scraped on its own host.

Request states, queue depth and the age of the oldest job are facts of the
database, not of a process, so ``DatabaseCollector`` reads them when scraped.
``receiver.web.metrics`` serves them at ``GET /metrics``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from storage import jobs
from storage.db import Database
from storage.errors import StorageError
from storage.clock import utcnow
from storage.models import ProcessorRequest

CALLBACKS = Counter("receiver_callbacks_total", "Callback deliveries by verdict and reason", ["verdict", "reason"])
ARCHIVE_BYTES = Counter("receiver_archive_bytes_total", "Bytes of archives stored")
ARCHIVE_SECONDS = Histogram(
    "receiver_archive_duration_seconds", "Time to download and store one archive",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
JOB_OUTCOMES = Counter("receiver_jobs_total", "Jobs run by kind and outcome", ["kind", "outcome"])
PROVIDER_ERRORS = Counter("receiver_provider_api_errors_total", "Errors from provider APIs", ["provider", "reason"])

class DatabaseCollector(Collector):
    """Request states and job queue facts, read from the database at each scrape."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily("receiver_requests", "Requests by provider and state", labels=["provider", "state"])
        depth = GaugeMetricFamily("receiver_job_queue_depth", "Jobs queued or running")
        oldest = GaugeMetricFamily("receiver_job_oldest_age_seconds", "Age of the oldest queued or running job")
        try:
            with self._database.transaction() as session:
                rows = session.execute(select(ProcessorRequest.provider, ProcessorRequest.state, func.count()).group_by(ProcessorRequest.provider, ProcessorRequest.state))
                for provider, state, count in rows:
                    states.add_metric([provider, state], count)
                stats = jobs.queue_stats(session)
        except StorageError:
            return  # an unavailable database shows as missing series, and in /readyz
        depth.add_metric([], stats.depth)
        age = (utcnow() - stats.oldest_created_at).total_seconds() if stats.oldest_created_at else 0.0
        oldest.add_metric([], age)
        yield from (states, depth, oldest)


def registry_for(database: Database) -> CollectorRegistry:
    """A registry with every process's counters (multiprocess mode) or this one's, plus the database's facts."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (CALLBACKS, ARCHIVE_BYTES, ARCHIVE_SECONDS, JOB_OUTCOMES, PROVIDER_ERRORS):
            registry.register(collector)
    registry.register(DatabaseCollector(database))
    return registry
