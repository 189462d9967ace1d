"""What the ops console reads beside the API's own answers: progress at a glance, queue facts, refusals.

Every change the console makes goes through the API's use cases (``cases``,
``archives``, ``sending``); this module only reads, in the shapes a page needs:

- ``progress_of``: each listed case's processor requests and their states;
- ``request_record``: a request as ``GET /api/requests/<id>`` answers it;
- ``queue_facts``: the queue's depth, its oldest job's age, the last reconciliation;
- ``refusals``: the sampled refused deliveries of the retention period, and the
  refusals counted by reason since the processes started (``receiver_callbacks_total``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Metric

from receiver.observability.metrics import registry_for
from receiver.services import Services
from receiver.usecases import records
from receiver.usecases.errors import UseCaseError
from storage import case_registry, jobs, refusals
from storage.case_registry import ENDED_STATES as ENDED_STATES  # for the pages' progress: what has ended
from storage.case_registry import Progress as Progress
from storage.errors import StorageError
from storage.models import Job
from storage.refusals import Refusal as Refusal  # a sample, as the deliveries page shows it


def progress_of(services: Services, case_ids: Collection[str]) -> dict[str, list[case_registry.Progress]]:
    with services.database.transaction() as session:
        return case_registry.request_progress(session, case_ids)


def request_record(services: Services, request_id: str) -> dict[str, Any]:
    """The request's record (state, transitions, callbacks, archive, events), as the admin API answers it."""
    try:
        return records.show_request(services, request_id).as_json()
    except StorageError as error:
        if error.reason == "not_found":
            raise UseCaseError("not_found", "no request with this id") from None
        raise


@dataclass(frozen=True)
class QueueFacts:
    """The worker's queue as the health page shows it."""

    depth: int
    oldest_age_seconds: float | None
    last_reconciliation: Job | None
    last_reconciliation_age_seconds: float | None


def queue_facts(services: Services) -> QueueFacts:
    with services.database.transaction() as session:
        stats = jobs.queue_stats(session)
    with services.database.reading() as connection:
        last = jobs.last_ended(connection, jobs.RECONCILE)
    now = services.clock.now()
    age = (now - stats.oldest_created_at).total_seconds() if stats.oldest_created_at else None
    return QueueFacts(stats.depth, age, last, (now - last.updated_at).total_seconds() if last is not None else None)


@dataclass(frozen=True)
class Refusals:
    """Refused deliveries: the samples of the retention period (newest first), and the counters by reason."""

    since: dt.datetime
    samples: list[refusals.Refusal]
    counted: dict[str, float]
    #: When they were read: the chart's right edge.
    now: dt.datetime


def refusals_seen(services: Services) -> Refusals:
    settings = services.settings
    services.refusal_samples.flush()
    now = services.clock.now()
    since = now - dt.timedelta(days=settings.refusal_sample_retention_days)
    with services.database.reading() as connection:
        samples = refusals.recent(connection, since=since, limit=max(1, settings.refusal_sample_cap))
    return Refusals(since, samples, refused_counts(registry_for(services.database).collect()), now)


def refused_counts(metrics: Iterable[Metric]) -> dict[str, float]:
    """Refused deliveries by reason, from ``receiver_callbacks_total`` (every process's, in multiprocess mode)."""
    counted: dict[str, float] = {}
    for metric in metrics:
        if metric.name != "receiver_callbacks":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("verdict") == "rejected":
                reason = sample.labels.get("reason", "unknown")
                counted[reason] = counted.get(reason, 0.0) + sample.value
    return dict(sorted(counted.items(), key=lambda item: -item[1]))
