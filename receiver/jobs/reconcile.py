"""Reconciliation: compare MessageBird's listing with the registry and notice missing callbacks.

A periodic ``reconcile`` job (every ``RECONCILE_INTERVAL_SECONDS``, queued when a
worker starts and again by each run) calls ``GET /personaldata/requests`` and looks
at every MessageBird request of ours still in state ``sent``:

- ``STATE_SENT``: still being processed; nothing to do.
- ``STATE_FAILED``: the request is ``failed``, and the record says what ops must do.
- ``STATE_CALLBACK_OK`` or ``STATE_CALLBACK_FAIL``, or ``STATE_DONE`` for longer than
  ``CALLBACK_GRACE_SECONDS``, with no callback accepted: the callback is missing. The
  request is flagged (``callback_missing``, ``request.callback_missing`` in the log),
  and then: a GET whose listing entry carries ``dataArchiveUrl`` gets that archive
  downloaded by the archive job, as a callback would have had it; a DELETE is
  ``completed`` on the listing's word (the transition says so); a GET without an
  archive URL stays ``sent`` with ``action_needed`` telling ops what to do.

The listing arrives over an authenticated HTTPS call with our access key, so it is
trusted like a verified callback; the record keeps which of the two it came from.
A failed call is logged and tried again at the next interval: the period never ends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy.orm import Session

from receiver.jobs.contract import JobContext, JobInterrupted
from receiver.observability.logs import get_logger
from receiver.providers import ProviderError
from receiver.providers.messagebird import (
    STATE_CALLBACK_FAIL,
    STATE_CALLBACK_OK,
    STATE_DONE,
    STATE_FAILED,
    Listed,
)
from receiver.services import Services
from settings import Settings
from storage import jobs, lifecycle, registry
from storage.clock import utcnow
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.reconcile")

WAIT, FAIL, MISSING = "waiting", "provider_failed", "callback_missing"

NO_ARCHIVE_URL_ACTION = (
    "No callback arrived and MessageBird's listing gives no archive URL: ask MessageBird support to send "
    "the callback again or to provide the archive (an empty result means they hold no data on the subject)"
)
PROVIDER_FAILED_ACTION = "MessageBird could not process the request: check it and create it again, or ask MessageBird support"


def assess(listed: Listed, *, now: dt.datetime, grace_seconds: int) -> str:
    """What the provider's state means for a request of ours that has had no callback."""
    if listed.state == STATE_FAILED:
        return FAIL
    if listed.state in (STATE_CALLBACK_OK, STATE_CALLBACK_FAIL):
        return MISSING
    if listed.state == STATE_DONE:
        since = listed.updated_at or listed.created_at
        if since is None or (now - since).total_seconds() >= grace_seconds:
            return MISSING
    return WAIT


def schedule_reconciliation(services: Services) -> bool:
    """Queue a reconciliation due now, unless MessageBird is not configured or one is queued already."""
    if not services.providers.messagebird.configured:
        return False
    with services.database.transaction() as session:
        if jobs.pending_count(session, jobs.RECONCILE):
            return False
        jobs.enqueue(session, kind=jobs.RECONCILE, request_id=None)
    log.info("reconcile.scheduled")
    return True


def reconcile_job(context: JobContext) -> None:
    """Run one reconciliation and queue the next."""
    services = context.services
    listing: list[Listed] | None = None
    try:
        with context.interruptible():
            listing = services.providers.messagebird.list_requests()
    except ProviderError as error:
        log.warning("reconcile.failed", reason=error.reason, code=error.code, status=error.status)
    now = utcnow()
    with services.database.transaction() as session:
        if not jobs.finish(session, context.job):
            raise JobInterrupted("the lease passed to another worker")
        counts = apply_listing(session, services, listing, now) if listing is not None else None
        _schedule_next(session, services.settings, now)
    if counts is not None:
        log.info("reconcile.finished", listed=len(listing or ()), **counts)


def apply_listing(session: Session, services: Services, listing: list[Listed], now: dt.datetime) -> dict[str, int]:
    """Compare ``listing`` with our requests awaiting a callback and act; returns what was found."""
    by_id = {item.id: item for item in listing}
    counts: Counter[str] = Counter()
    awaiting = registry.awaiting_provider(session, registry.MESSAGEBIRD)
    for request in awaiting:
        listed = by_id.get(request.id)
        if listed is None:
            counts["not_listed"] += 1
            continue
        request.provider_state = (listed.state or "")[:32] or None
        request.provider_checked_at = now
        verdict = assess(listed, now=now, grace_seconds=services.settings.callback_grace_seconds)
        counts[verdict] += 1
        if verdict == FAIL:
            _provider_failed(request)
        elif verdict == MISSING:
            _callback_missing(session, services, request, listed)
    counts["unknown"] = _count_unknown(session, set(by_id) - {r.id for r in awaiting})
    return dict(counts)


def _provider_failed(request: ProcessorRequest) -> None:
    request.action_needed = PROVIDER_FAILED_ACTION
    lifecycle.move(request, lifecycle.FAILED, reason="MessageBird reports STATE_FAILED")
    log.error("request.provider_failed", request_id=request.id, kind=request.kind)


def _callback_missing(session: Session, services: Services, request: ProcessorRequest, listed: Listed) -> None:
    if not request.callback_missing:
        request.callback_missing = True
        log.warning("request.callback_missing", request_id=request.id, kind=request.kind, provider_state=listed.state,
                    has_archive_url=listed.data_archive_url is not None)
    if request.kind in registry.DELETE_KINDS:
        request.action_needed = None
        lifecycle.move(request, lifecycle.COMPLETED,
                       reason=f"erasure reported by MessageBird's listing ({listed.state}); no callback arrived")
    elif listed.data_archive_url:
        request.action_needed = None
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED,
                       reason=f"no callback; archive URL taken from MessageBird's listing ({listed.state})")
        sealed = services.secrets.seal(json.dumps({"url": listed.data_archive_url}))
        jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request.id, payload_sealed=sealed)
    else:
        request.action_needed = NO_ARCHIVE_URL_ACTION


def _count_unknown(session: Session, ids: set[str]) -> int:
    """How many listed ids the registry has never heard of (created elsewhere, or lost)."""
    return sum(1 for request_id in ids if registry.find(session, request_id) is None)


def _schedule_next(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Queue the next run, unless another worker already did (duplicates die out this way)."""
    if jobs.pending_count(session, jobs.RECONCILE) == 0:
        run_after = now + dt.timedelta(seconds=settings.reconcile_interval_seconds)
        jobs.enqueue(session, kind=jobs.RECONCILE, request_id=None, run_after=run_after)
