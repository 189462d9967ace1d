"""What is going on around the cases: refused deliveries over time, and the service's health.

- Deliveries: the sampled refusals of ``REFUSAL_SAMPLE_RETENTION_DAYS`` as a chart by
  reason (per day, or per hour over the last day), the counters by reason since the
  processes started, and the newest samples.
- Health: the probes of ``/readyz`` (the same ones, within the same bound), the job
  queue's depth and its oldest job's age (as ``/metrics``), and the last reconciliation
  with MessageBird's listing.
"""

from __future__ import annotations

from receiver.usecases import console_views
from receiver.web.console.blueprint import blueprint, page
from receiver.web.console.charts import BY_DAY, BY_HOUR, refusal_chart
from receiver.web.current import services
from receiver.web.health import READINESS_MARGIN_SECONDS, probe_all
from receiver.web.inputs import optional_arg
from storage.errors import StorageError

SAMPLES_SHOWN = 25


@blueprint.get("/deliveries")
def deliveries() -> tuple[str, int]:
    by = optional_arg("by", (BY_DAY, BY_HOUR)) or BY_DAY
    seen = console_views.refusals_seen(services())
    chart = refusal_chart(seen.samples, since=seen.since, now=seen.now, by=by)
    return page(
        "deliveries.html",
        chart=chart,
        by=by,
        samples=seen.samples[:SAMPLES_SHOWN],
        counted=seen.counted,
        sampled=len(seen.samples),
        retention_days=services().settings.refusal_sample_retention_days,
    )


@blueprint.get("/health")
def health() -> tuple[str, int]:
    current = services()
    checks = probe_all(current.readiness_probes(), current.settings.database_timeout_seconds + READINESS_MARGIN_SECONDS)
    try:
        facts: console_views.QueueFacts | None = console_views.queue_facts(current)
    except StorageError:
        facts = None  # the database's own probe above says why
    return page(
        "health.html",
        checks=checks,
        ready=all(result == "ok" for result in checks.values()),
        facts=facts,
        interval=current.settings.reconcile_interval_seconds,
    )
