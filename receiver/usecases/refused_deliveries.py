"""``GET /api/deliveries/refused``: the sampled refused deliveries of the retention period, newest first.

Each sample is its time, status, reason, the client's address, and the body's SHA-256
and size: never its content. Samples older than ``REFUSAL_SAMPLE_RETENTION_DAYS`` are
not shown (the retention run deletes them). This process's pending samples are written
first; another process's are written within a second (``storage.refusals``).
"""

from __future__ import annotations

import datetime as dt

from receiver.services import Services
from receiver.usecases.answers import RefusedPage, RefusedSample, iso_time
from storage import refusals


def refused_page(services: Services, *, limit: int) -> RefusedPage:
    services.refusal_samples.flush()
    since = services.clock.now() - dt.timedelta(days=services.settings.refusal_sample_retention_days)
    with services.database.reading() as connection:
        sampled = refusals.recent(connection, since=since, limit=limit)
    return RefusedPage.model_construct(refused=[_sample(refusal) for refusal in sampled])


def _sample(refusal: refusals.Refusal) -> RefusedSample:
    return RefusedSample.model_construct(
        received_at=iso_time(refusal.received_at),
        status=refusal.status_code,
        reason=refusal.reason,
        remote_addr=refusal.remote_addr,
        body_sha256=refusal.body_sha256,
        body_bytes=refusal.body_bytes,
    )
