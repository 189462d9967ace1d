"""Sending requests to the processors: record the intent, send, record the answer.

``POST /api/requests`` and ``flask requests create`` send a MessageBird Personal Data
request; ``POST /api/forget`` and ``flask requests forget`` a VoodooSMS forget request.
A document is validated completely before anything is recorded or sent: a bad one is
a 400 from us, never a call.

Nothing sent is lost:

1. The intent is recorded first: a request in state ``sending`` under an id of our
   own (``intent-...``). If that fails, nothing is sent (503).
2. The request is sent. An error answer means the provider did nothing: the intent is
   removed and the error answered (422, 502, 503). No answer (a timeout, a connection
   lost) leaves the intent ``sending`` (``OUTCOME_UNKNOWN``, 504), never sent again.
3. The answer is recorded: the intent becomes the request, under the provider's id, in
   state ``sent``. If the database fails here, the intent stays ``sending``
   (``RECORDING_PENDING``, 202).

A ``sending`` intent is resolved by reconciliation (``receiver.usecases.unrecorded``)
from the provider's own records, queued early for when the send is surely over. The personal
data value is sent to the provider and never kept: the record holds only its keyed hash,
which also finds the request in MessageBird's listing again. The story: docs/sending.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.providers import ProviderError
from receiver.providers.messagebird import Order
from receiver.services import Services
from receiver.usecases import records
from receiver.usecases.answers import RecordingPending, SentRequest
from receiver.usecases.callbacks import MESSAGEBIRD_CALLBACK_PATH
from receiver.usecases.documents import ForgetDocument, MessageBirdRequestDocument, parse
from receiver.usecases.registration import After
from settings import Settings
from storage import jobs, registry
from storage.errors import StorageError
from storage.models import ProcessorRequest

log = get_logger("receiver.usecases.sending")

#: How a send ended: the answer recorded; the answer received but not recorded; no answer to tell.
CREATED, RECORDING_PENDING, OUTCOME_UNKNOWN = "created", "recording_pending", "outcome_unknown"

PROVIDER_NAMES = {registry.MESSAGEBIRD: "MessageBird", registry.VOODOOSMS: "VoodooSMS"}
#: Recorded with the resolved request: where its id came from.
CREATED_AT_MESSAGEBIRD = "created at MessageBird"
ACCEPTED_BY_VOODOOSMS = "accepted by VoodooSMS"


@dataclass(frozen=True)
class Sent:
    """What became of a send: the request (or its intent, still ``sending``), earlier requests about the same value.

    ``outcome`` is ``CREATED``, ``RECORDING_PENDING`` or ``OUTCOME_UNKNOWN``; ``problem``
    the provider's or the database's error behind anything but ``CREATED``.
    """

    request: ProcessorRequest
    earlier: list[str] = field(default_factory=list)
    outcome: str = CREATED
    problem: ProviderError | StorageError | None = None
    #: The provider's id of a request whose answer could not be recorded.
    provider_id: str | None = None

    def explanation(self) -> str | None:
        """What ops are told about a send that did not end ``CREATED`` (no secret, no personal data)."""
        name = PROVIDER_NAMES.get(self.request.provider, self.request.provider)
        kept = (
            f"It is kept as {self.request.id} (state sending), and reconciliation resolves it from {name}'s "
            "own records: do not send it again."
        )
        if self.outcome == RECORDING_PENDING:
            return f"{name} accepted the request as {self.provider_id}, but recording its answer failed. {kept}"
        if self.outcome == OUTCOME_UNKNOWN:
            return f"{name} did not answer in time or in a readable way: it may have created the request. {kept}"
        return None

    def answer(self) -> SentRequest:
        """The request as the answer shows it, with the earlier requests about the same value."""
        return SentRequest.model_construct(**records.record_fields(self.request), earlier_requests=self.earlier)

    def pending_answer(self) -> RecordingPending:
        """``RECORDING_PENDING``'s answer: the intent kept, the provider's id, and what ops are told."""
        return RecordingPending.model_construct(
            **records.record_fields(self.request),
            earlier_requests=self.earlier,
            status="recording_pending",
            provider_request_id=self.provider_id,
            description=self.explanation(),
        )


def parse_messagebird_document(document: Any, *, callback_url: str) -> tuple[Order, str | None]:
    """The order to send and the Controller's ``subjectRef``; ``UseCaseError`` naming what is wrong."""
    parsed = parse(MessageBirdRequestDocument, document)
    return order_of(parsed, callback_url=callback_url), parsed.subject_ref


def order_of(parsed: MessageBirdRequestDocument, *, callback_url: str) -> Order:
    return Order(
        kind=parsed.kind, reason=parsed.reason, callback_url=callback_url, field=parsed.field, value=parsed.value
    )


def parse_forget_document(document: Any) -> ForgetDocument:
    """The forget order; ``UseCaseError`` naming what is wrong."""
    return parse(ForgetDocument, document)


def settle_seconds(settings: Settings) -> float:
    """How long after its intent a send is surely over: every attempt timed out and every wait waited."""
    attempts = settings.provider_max_retries + 1
    return settings.provider_timeout_seconds * attempts + settings.provider_retry_max_wait_seconds + 5


# -- the two sends ------------------------------------------------------------------------


def send_messagebird_request(services: Services, document: Any, *, actor: str) -> Sent:
    """Validate, record the intent, send to MessageBird, record the answer (see the module's docstring).

    ``actor`` is the operator sending it; a ``caseId`` makes the request part of that (open) case.
    """
    parsed = parse(MessageBirdRequestDocument, document)
    order = order_of(parsed, callback_url=services.settings.public_url + MESSAGEBIRD_CALLBACK_PATH)
    value_hash = services.secrets.value_hash(order.field, order.value or "") if order.field else None
    intent = _record_intent(
        services,
        registry.NewRequest(
            id=registry.new_intent_id(),
            provider=registry.MESSAGEBIRD,
            kind=order.kind,
            field=order.field,
            value_hash=value_hash,
            reason=order.reason,
            subject_ref=parsed.subject_ref,
            case_id=parsed.case_id,
            registered_by=actor,
        ),
    )
    try:
        created = services.providers.messagebird.create_request(order)
    except ProviderError as error:
        return _unanswered(services, intent, error, actor=actor)
    answer = registry.ProviderAnswer(
        id=created.id,
        signature_key_sealed=services.secrets.seal(created.signature_key),
        provider_state=(created.state or "")[:32] or None,
        provider_created_at=created.created_at,
    )
    return _record_answer(services, intent, answer, reason=CREATED_AT_MESSAGEBIRD)


def forget_number(services: Services, document: Any, *, actor: str) -> Sent:
    """Validate, record the intent, send to VoodooSMS, record the reference and queue the status polling."""
    order = parse_forget_document(document)
    intent = _record_intent(
        services,
        registry.NewRequest(
            id=registry.new_intent_id(),
            provider=registry.VOODOOSMS,
            kind=registry.VOODOOSMS_FORGET,
            field="phone_number",
            value_hash=services.secrets.value_hash("phone_number", str(order.number)),
            reason=order.reason,
            subject_ref=order.subject_ref,
            case_id=order.case_id,
            registered_by=actor,
        ),
        blacklist=order.blacklist,
    )
    try:
        accepted = services.providers.voodoosms.forget(order.number, blacklist=order.blacklist)
    except ProviderError as error:
        return _unanswered(services, intent, error, actor=actor)
    answer = registry.ProviderAnswer(
        id=accepted.reference, provider_state="accepted", provider_created_at=accepted.created_at
    )
    return _record_answer(
        services,
        intent,
        answer,
        reason=ACCEPTED_BY_VOODOOSMS,
        then=lambda session, request: queue_first_poll(session, services.settings, request, now=services.clock.now()),
    )


def queue_first_poll(session: Session, settings: Settings, request: ProcessorRequest, *, now: dt.datetime) -> None:
    """Queue the status polling of a forget request VoodooSMS accepted (accepted ``now``)."""
    first_poll = now + dt.timedelta(seconds=settings.voodoosms_poll_interval_seconds)
    jobs.enqueue(session, kind=jobs.VOODOOSMS_POLL, request_id=request.id, run_after=first_poll)


# -- the three steps ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Intent:
    request: ProcessorRequest
    earlier: list[str]


def _record_intent(services: Services, new: registry.NewRequest, *, blacklist: bool | None = None) -> _Intent:
    """Step 1: the request in state ``sending``, before any call; a ``StorageError`` here means nothing was sent."""
    with services.database.transaction() as session:
        request = registry.register(session, new, sending=True)
        request.blacklist = blacklist
        earlier = (
            [i for i in registry.ids_with_value_hash(session, new.value_hash) if i != new.id] if new.value_hash else []
        )
        session.flush()
    log.info("request.sending", intent_id=new.id, provider=new.provider, kind=new.kind)
    return _Intent(request, earlier)


def _unanswered(services: Services, intent: _Intent, error: ProviderError, *, actor: str) -> Sent:
    """Step 2 failed: an error answer removes the intent and is raised; an unknown outcome leaves it to be resolved."""
    request = intent.request
    if not error.outcome_unknown:
        _remove_intent(services, request, actor=actor, reason=f"not sent, {error.reason}: {error.message}")
        raise error
    log.warning(
        "request.outcome_unknown",
        intent_id=request.id,
        provider=request.provider,
        kind=request.kind,
        reason=error.reason,
    )
    _resolve_soon(services)
    return Sent(request, intent.earlier, OUTCOME_UNKNOWN, error)


def _remove_intent(services: Services, request: ProcessorRequest, *, actor: str, reason: str) -> None:
    """The provider refused: nothing exists there, so nothing is kept here. Failing that, reconciliation fails it."""
    try:
        with services.database.transaction() as session:
            registry.remove_intent(session, request.id, actor=actor, reason=reason)
    except StorageError as error:
        log.warning("request.intent_kept", intent_id=request.id, provider=request.provider, reason=error.reason)


def _record_answer(
    services: Services,
    intent: _Intent,
    answer: registry.ProviderAnswer,
    *,
    reason: str,
    then: After | None = None,
) -> Sent:
    """Step 3: the intent becomes the request under the provider's id; a failure leaves it for reconciliation."""
    try:
        with services.database.transaction() as session:
            stored = registry.record_answer(session, intent.request.id, answer, reason=reason)
            if then is not None:
                then(session, stored)
    except StorageError as error:
        log.error(
            "request.unrecorded",
            intent_id=intent.request.id,
            request_id=answer.id,
            provider=intent.request.provider,
            kind=intent.request.kind,
            reason=error.reason,
        )
        _resolve_soon(services)
        return Sent(intent.request, intent.earlier, RECORDING_PENDING, error, provider_id=answer.id)
    log.info(
        "request.created",
        request_id=stored.id,
        intent_id=stored.intent_id,
        provider=stored.provider,
        kind=stored.kind,
        provider_state=stored.provider_state,
        earlier_requests=len(intent.earlier),
    )
    return Sent(stored, intent.earlier)


def _resolve_soon(services: Services) -> None:
    """Queue a reconciliation for when the send is surely over, unless one is queued by then already."""
    at = services.clock.now() + dt.timedelta(seconds=settle_seconds(services.settings))
    try:
        with services.database.transaction() as session:
            if not jobs.queued_by(session, jobs.RECONCILE, at):
                jobs.enqueue(session, kind=jobs.RECONCILE, request_id=None, run_after=at)
    except StorageError as error:
        log.warning("reconcile.schedule_failed", reason=error.reason)
