"""Reconciliation: compare the providers' records with the registry, and act on what differs.

``reconcile`` (the periodic ``reconcile`` job) calls ``GET /personaldata/requests`` and,
in one transaction:

1. resolves the intents whose answer was never recorded (``receiver.usecases.unrecorded``;
   VoodooSMS's forgets too, by its status call, before the transaction);
2. for every MessageBird request of ours still ``sent``: ``STATE_SENT``, nothing to do;
   ``STATE_FAILED``, the request is ``failed`` with what ops must do; ``STATE_CALLBACK_OK``
   or ``_FAIL``, or ``STATE_DONE`` for longer than ``CALLBACK_GRACE_SECONDS``: the callback
   is missing (``callback_missing``), and a GET with a ``dataArchiveUrl`` gets that archive
   downloaded, a DELETE is ``completed`` on the listing's word, a GET without one stays
   ``sent`` with ``action_needed``;
3. every access request ``failed`` because its download failed moves on again when the
   listing carries a ``dataArchiveUrl`` other than the one that failed.

The callback endpoint moves the same requests, so every row changed here is locked first
and its state checked again (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write
lock): a move is made once, by whichever comes first. The listing arrives over an
authenticated HTTPS call with our access key, so it is trusted like a verified callback;
the record keeps which of the two it came from. A failed call is logged and tried again
at the next interval.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy.orm import Session

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
from receiver.usecases import job_runs, unrecorded
from receiver.usecases.job_runs import Interruptible
from storage import jobs, lifecycle, registry
from storage.errors import StorageError
from storage.jobs import ClaimedJob
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.reconcile")  # the job's log, as its events have always been named

WAIT, FAIL, MISSING = "waiting", "provider_failed", "callback_missing"

NO_ARCHIVE_URL_ACTION = (
    "No callback arrived and MessageBird's listing gives no archive URL: ask MessageBird support to send "
    "the callback again or to provide the archive (an empty result means they hold no data on the subject)"
)
PROVIDER_FAILED_ACTION = (
    "MessageBird could not process the request: check it and create it again, or ask MessageBird support"
)


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


RECONCILE = jobs.RECONCILE  #: the periodic job kind


def reconcile(services: Services, job: ClaimedJob, *, interruptible: Interruptible) -> None:
    """Run one reconciliation, end ``job`` and queue the next."""
    listing = _listing(services, interruptible)
    counts = unrecorded.resolve_forgets(services, interruptible=interruptible)
    now = services.clock.now()
    with services.database.transaction() as session:
        job_runs.finish(session, job)
        if listing is not None:
            counts += apply_listing(session, services, listing, now)
        job_runs.queue_next(session, RECONCILE, seconds=services.settings.reconcile_interval_seconds, now=now)
    log.info("reconcile.finished", listed=len(listing) if listing is not None else None, **counts)


def _listing(services: Services, interruptible: Interruptible) -> list[Listed] | None:
    """MessageBird's listing; None when MessageBird is not configured or the call failed (logged)."""
    client = services.providers.messagebird
    if not client.configured:
        return None
    try:
        with interruptible():
            return client.list_requests()
    except ProviderError as error:
        log.warning("reconcile.failed", reason=error.reason, code=error.code, status=error.status)
        return None


def apply_listing(session: Session, services: Services, listing: list[Listed], now: dt.datetime) -> Counter[str]:
    """Resolve intents, then compare ``listing`` with our requests awaiting a callback or failed, and act.

    Every request changed is locked first; returns the counts of what was found.
    """
    counts = unrecorded.resolve_from_listing(session, services, listing, now)
    by_id = {item.id: item for item in listing}
    awaiting = registry.awaiting_provider(session, registry.MESSAGEBIRD)
    for request in awaiting:
        listed = by_id.get(request.id)
        if listed is None:
            counts["not_listed"] += 1
            continue
        verdict = _apply_state(session, services, request, listed, now)
        counts[verdict] += 1
    counts += _retry_failed_downloads(session, services, by_id, now)
    counts["unknown"] = len(by_id) - len(registry.known_ids(session, by_id))
    return counts


def _apply_state(
    session: Session, services: Services, request: ProcessorRequest, listed: Listed, now: dt.datetime
) -> str:
    """Record what MessageBird says of a request awaiting its callback, and act on it; the verdict."""
    _note_checked(request, listed, now)
    verdict = assess(listed, now=now, grace_seconds=services.settings.callback_grace_seconds)
    if verdict == FAIL:
        _provider_failed(request)
    elif verdict == MISSING:
        _callback_missing(session, services, request, listed)
    return verdict


def _note_checked(request: ProcessorRequest, listed: Listed, now: dt.datetime) -> None:
    request.provider_state = (listed.state or "")[:32] or None
    request.provider_checked_at = now


def _provider_failed(request: ProcessorRequest) -> None:
    request.action_needed = PROVIDER_FAILED_ACTION
    lifecycle.move(request, lifecycle.FAILED, reason="MessageBird reports STATE_FAILED")
    log.error("request.provider_failed", request_id=request.id, kind=request.kind)


def _callback_missing(session: Session, services: Services, request: ProcessorRequest, listed: Listed) -> None:
    if not request.callback_missing:
        request.callback_missing = True
        log.warning(
            "request.callback_missing",
            request_id=request.id,
            kind=request.kind,
            provider_state=listed.state,
            has_archive_url=listed.data_archive_url is not None,
        )
    if request.kind in registry.DELETE_KINDS:
        request.action_needed = None
        lifecycle.move(
            request,
            lifecycle.COMPLETED,
            reason=f"erasure reported by MessageBird's listing ({listed.state}); no callback arrived",
        )
    elif listed.data_archive_url:
        request.action_needed = None
        lifecycle.move(
            request,
            lifecycle.CALLBACK_RECEIVED,
            reason=f"no callback; archive URL taken from MessageBird's listing ({listed.state})",
        )
        jobs.enqueue(
            session,
            kind=jobs.ARCHIVE,
            request_id=request.id,
            payload_sealed=_sealed_url(services, listed.data_archive_url),
        )
    else:
        request.action_needed = NO_ARCHIVE_URL_ACTION


def _retry_failed_downloads(
    session: Session, services: Services, by_id: dict[str, Listed], now: dt.datetime
) -> Counter[str]:
    """Move on again the failed downloads for which the listing has a new archive URL (rows locked)."""
    counts: Counter[str] = Counter()
    with_url = [item.id for item in by_id.values() if item.data_archive_url]
    failed = registry.failed_downloads(session, registry.MESSAGEBIRD, with_url)
    tried = registry.archive_payloads(session, [r.id for r in failed])
    for request in failed:
        listed = by_id[request.id]
        _note_checked(request, listed, now)
        url = listed.data_archive_url
        if not url or (request.id in tried and _archive_url(services, tried[request.id]) == url):
            counts["failed_download_same_url"] += 1
            continue
        request.action_needed = None
        lifecycle.move(
            request,
            lifecycle.CALLBACK_RECEIVED,
            reason=f"download failed before; archive URL taken again from MessageBird's listing ({listed.state})",
        )
        jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request.id, payload_sealed=_sealed_url(services, url))
        log.warning("request.download_retried", request_id=request.id, kind=request.kind, provider_state=listed.state)
        counts["failed_download_retried"] += 1
    return counts


def _sealed_url(services: Services, url: str) -> str:
    """The archive job's payload: the URL sealed (it is a bearer secret)."""
    return services.secrets.seal(json.dumps({"url": url}))


def _archive_url(services: Services, payload_sealed: str) -> str | None:
    try:
        return json.loads(services.secrets.open(payload_sealed)).get("url")
    except (StorageError, ValueError, AttributeError):
        return None
