"""Sends whose answer was never recorded: found again in the provider's own records, never sent twice.

A request we send is recorded first as an intent in state ``sending``
(``receiver.usecases.sending``); it stays so when the send timed out or its answer
could not be recorded. Each reconciliation resolves such intents:

- MessageBird: its listing holds the complete request objects. An intent is the
  listed request that is not in the registry yet, of the same kind, with the same
  keyed hash of field and value (``SecretBox.value_hash``; no value for the
  ``KIND_USER_*`` kinds), the same reason where the listing gives one, and created
  inside the intent's window: from ``CLOCK_SKEW`` before the intent until
  ``CLOCK_SKEW`` after its send was surely over. Among several, the one created
  closest to the intent (requests alike in all of that are interchangeable). Its
  ``signatureKey`` is sealed and stored, and the intent becomes the request under
  MessageBird's id, in state ``sent``, to which the listing then applies.
- VoodooSMS: its status call, asked by the intent's date without a reference,
  names one forget request (its ``reference`` and ``created_at``). When that
  reference is new to the registry, was created inside the intent's window and
  inside no other unresolved forget's window, the intent becomes that request and
  its status polling is queued. Anything less certain is left as it is: the status
  call cannot tell two forgets of the same day apart.
- An intent that no record shows ``SEND_RESOLUTION_MAX_SECONDS`` after it was
  recorded is ``failed`` with what ops must do (send it again): it was never created,
  or it cannot be told which request it became.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.providers import ProviderError
from receiver.providers.messagebird import Listed
from receiver.providers.voodoosms import NO_RECORDS, Status
from receiver.services import Services
from receiver.usecases.job_runs import Interruptible
from receiver.usecases.sending import queue_first_poll, settle_seconds
from settings import Settings
from storage import lifecycle, registry
from storage.models import ProcessorRequest

log = get_logger("receiver.jobs.unrecorded")  # reconciliation's log, as its events have always been named

#: How far apart our clock and the provider's may be.
CLOCK_SKEW = dt.timedelta(seconds=300)

FOUND_IN_LISTING = "found in MessageBird's listing: the answer to its sending was not recorded"
FOUND_BY_STATUS = "found by VoodooSMS's status call by date: the answer to its sending was not recorded"
SEND_AGAIN = "Nothing shows that {name} received this request: send it again"
FORGET_UNDETERMINED = (
    "VoodooSMS's status call by date does not tell which forget request this became: submit the "
    "number again (forgetting a number twice does no harm), or ask VoodooSMS support"
)


@dataclass(frozen=True)
class Intent:
    """What matching needs to know of an intent (detached from any session)."""

    id: str
    kind: str
    value_hash: str | None
    reason: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, request: ProcessorRequest) -> Intent:
        return cls(request.id, request.kind, request.value_hash, request.reason, request.created_at)

    def window(self, settle: float) -> tuple[dt.datetime, dt.datetime]:
        """When the provider may have created it: from before the intent (skew) to after its send was over."""
        return self.created_at - CLOCK_SKEW, self.created_at + dt.timedelta(seconds=settle) + CLOCK_SKEW

    def could_be(self, created_at: dt.datetime | None, settle: float) -> bool:
        start, end = self.window(settle)
        return created_at is not None and start <= created_at <= end


# -- MessageBird: the listing -----------------------------------------------------------------


def match_listing(
    intents: Sequence[Intent],
    listing: Sequence[Listed],
    *,
    known: Collection[str],
    value_hash: Callable[[str, str], str],
    settle: float,
) -> dict[str, Listed]:
    """Each intent (oldest first) paired with the listed request it became, where one fits (pure)."""
    unknown = [item for item in listing if item.id not in known]
    hashes = {item.id: value_hash(item.field, item.value) for item in unknown if item.field and item.value}
    matches: dict[str, Listed] = {}
    claimed: set[str] = set()
    for intent in sorted(intents, key=lambda i: (i.created_at, i.id)):
        fitting = [
            item for item in unknown if item.id not in claimed and _fits(intent, item, hashes.get(item.id), settle)
        ]
        if fitting:
            best = min(fitting, key=lambda item: _time_apart(intent, item))
            matches[intent.id] = best
            claimed.add(best.id)
    return matches


def _time_apart(intent: Intent, item: Listed) -> dt.timedelta:
    """How far apart the two were created; an item of unknown time is the farthest (none fits: ``could_be``)."""
    return dt.timedelta.max if item.created_at is None else abs(item.created_at - intent.created_at)


def _fits(intent: Intent, item: Listed, value_hash: str | None, settle: float) -> bool:
    same_reason = item.reason is None or intent.reason is None or item.reason == intent.reason
    return (
        item.kind == intent.kind
        and value_hash == intent.value_hash
        and same_reason
        and intent.could_be(item.created_at, settle)
    )


def resolve_from_listing(
    session: Session, services: Services, listing: Sequence[Listed], now: dt.datetime
) -> Counter[str]:
    """Resolve MessageBird's ``sending`` intents (locked) from the listing; counts of what became of them."""
    settings = services.settings
    intents = registry.sending_intents(session, registry.MESSAGEBIRD)
    matches = match_listing(
        [Intent.of(i) for i in intents],
        listing,
        known=registry.known_ids(session, [item.id for item in listing]),
        value_hash=services.secrets.value_hash,
        settle=settle_seconds(settings),
    )
    counts: Counter[str] = Counter()
    for intent in intents:
        listed = matches.get(intent.id)
        if listed is not None:
            _adopt_listed(session, services, intent, listed)
            counts["intent_resolved"] += 1
        else:
            counts[_unmatched(intent, settings, now, action=SEND_AGAIN.format(name="MessageBird"))] += 1
    return counts


def _adopt_listed(session: Session, services: Services, intent: ProcessorRequest, listed: Listed) -> None:
    sealed = services.secrets.seal(listed.signature_key) if listed.signature_key else None
    answer = registry.ProviderAnswer(
        listed.id,
        signature_key_sealed=sealed,
        provider_state=(listed.state or "")[:32] or None,
        provider_created_at=listed.created_at,
    )
    intent_id = intent.id
    registry.record_answer(session, intent_id, answer, reason=FOUND_IN_LISTING)
    log.warning(
        "request.resolved",
        intent_id=intent_id,
        request_id=listed.id,
        provider=registry.MESSAGEBIRD,
        has_signature_key=sealed is not None,
    )


def _unmatched(intent: ProcessorRequest, settings: Settings, now: dt.datetime, *, action: str) -> str:
    """Fail an intent no record has shown for too long (``intent_failed``), or leave it (``intent_unresolved``)."""
    age = (now - intent.created_at).total_seconds()
    if age < max(settings.send_resolution_max_seconds, settle_seconds(settings)):
        return "intent_unresolved"
    intent.action_needed = action
    lifecycle.move(intent, lifecycle.FAILED, reason=f"not found in the provider's records {round(age)} s after sending")
    log.error("request.never_created", intent_id=intent.id, provider=intent.provider, kind=intent.kind)
    return "intent_failed"


# -- VoodooSMS: the status call by date -----------------------------------------------------


def resolve_forgets(services: Services, *, interruptible: Interruptible) -> Counter[str]:
    """Resolve VoodooSMS's ``sending`` intents, one status call each (outside any transaction)."""
    if not services.providers.voodoosms.configured:
        return Counter()
    with services.database.transaction() as session:
        pending = [Intent.of(i) for i in registry.sending_intents(session, registry.VOODOOSMS, lock=False)]
    counts: Counter[str] = Counter()
    for intent in pending:
        status = _status_by_date(services, intent, interruptible)
        if status is not False:
            counts[_apply_status(services, intent, pending, status)] += 1
    return counts


def _status_by_date(services: Services, intent: Intent, interruptible: Interruptible) -> Status | Literal[False] | None:
    """VoodooSMS's answer for the intent's date: a ``Status``, None for "No records found", False when unknown."""
    try:
        with interruptible():
            return services.providers.voodoosms.status(submitted_at=intent.created_at)
    except ProviderError as error:
        if error.code == NO_RECORDS:
            return None
        log.warning("reconcile.status_failed", intent_id=intent.id, reason=error.reason, code=error.code)
        return False


def _apply_status(services: Services, intent: Intent, pending: Sequence[Intent], status: Status | None) -> str:
    """Adopt the reference the status call named, if it can only be this intent's; else maybe fail the intent."""
    settings, now = services.settings, services.clock.now()
    with services.database.transaction() as session:
        locked = registry.find(session, intent.id, for_update=True)
        if locked is None or locked.state != lifecycle.SENDING:
            return "intent_gone"
        if status is not None and _only_fits(intent, pending, status, session, settle_seconds(settings)):
            answer = registry.ProviderAnswer(
                status.reference or "", provider_state="accepted", provider_created_at=status.created_at
            )
            request = registry.record_answer(session, intent.id, answer, reason=FOUND_BY_STATUS)
            queue_first_poll(session, settings, request, now=now)
            log.warning(
                "request.resolved", intent_id=intent.id, request_id=status.reference, provider=registry.VOODOOSMS
            )
            return "intent_resolved"
        action = SEND_AGAIN.format(name="VoodooSMS") if status is None else FORGET_UNDETERMINED
        return _unmatched(locked, settings, now, action=action)


def _only_fits(intent: Intent, pending: Sequence[Intent], status: Status, session: Session, settle: float) -> bool:
    """The named request is new to us, fits this intent's window, and no other unresolved forget's."""
    if not status.reference or not intent.could_be(status.created_at, settle):
        return False
    if any(other.id != intent.id and other.could_be(status.created_at, settle) for other in pending):
        return False
    return not registry.known_ids(session, [status.reference])
