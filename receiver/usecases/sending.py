"""Sending requests to the processors: validate, send, store what they answered.

``POST /api/requests`` and ``flask requests create`` send a MessageBird Personal Data
request; ``POST /api/forget`` and ``flask requests forget`` a VoodooSMS forget request.
A document is validated completely before anything is sent: a bad one is a 400 from
us, never a call. What the provider answers (MessageBird's ``id``, ``signatureKey``,
``state`` and ``createdAt``; VoodooSMS's ``reference`` and ``created_at``) is stored
through ``registration.store``, the one path that stores a request.

The personal data value (an email address, a phone number...) is sent to the
provider and never kept: the record holds only its keyed hash, so that requests
about the same subject can be found (``earlier``) without holding the data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.providers.messagebird import Order
from receiver.services import Services
from receiver.usecases import registration
from receiver.usecases.callbacks import MESSAGEBIRD_CALLBACK_PATH
from receiver.usecases.documents import ForgetDocument, MessageBirdRequestDocument, parse
from storage import jobs, registry
from storage.clock import utcnow
from storage.errors import StorageError
from storage.models import ProcessorRequest

log = get_logger("receiver.usecases.sending")


@dataclass(frozen=True)
class Sent:
    """A request the provider accepted and we stored, and earlier requests about the same value."""

    request: ProcessorRequest
    earlier: list[str] = field(default_factory=list)


def parse_messagebird_document(document: Any, *, callback_url: str) -> tuple[Order, str | None]:
    """The order to send and the Controller's ``subjectRef``; ``UseCaseError`` naming what is wrong."""
    parsed = parse(MessageBirdRequestDocument, document)
    order = Order(kind=parsed.kind, reason=parsed.reason, callback_url=callback_url, field=parsed.field,
                  value=parsed.value)
    return order, parsed.subject_ref


def parse_forget_document(document: Any) -> ForgetDocument:
    """The forget order; ``UseCaseError`` naming what is wrong."""
    return parse(ForgetDocument, document)


# -- sending and storing -------------------------------------------------------------------


def send_messagebird_request(services: Services, document: Any) -> Sent:
    """Validate, send to MessageBird, store the answer; ``ProviderError`` when MessageBird refuses."""
    callback_url = services.settings.public_url + MESSAGEBIRD_CALLBACK_PATH
    order, subject_ref = parse_messagebird_document(document, callback_url=callback_url)
    created = services.providers.messagebird.create_request(order)
    new = registry.NewRequest(
        id=created.id,
        provider=registry.MESSAGEBIRD,
        kind=order.kind,
        field=order.field,
        value_hash=services.secrets.value_hash(order.field, order.value or "") if order.field else None,
        reason=order.reason,
        subject_ref=subject_ref,
        signature_key_sealed=services.secrets.seal(created.signature_key),
        provider_state=(created.state or "")[:32] or None,
        provider_created_at=created.created_at,
    )
    return _store(services, new)


def forget_number(services: Services, document: Any) -> Sent:
    """Validate, send to VoodooSMS, store the reference and queue the status polling."""
    order = parse_forget_document(document)
    accepted = services.providers.voodoosms.forget(order.number, blacklist=order.blacklist)
    new = registry.NewRequest(
        id=accepted.reference,
        provider=registry.VOODOOSMS,
        kind=registry.VOODOOSMS_FORGET,
        field="phone_number",
        value_hash=services.secrets.value_hash("phone_number", str(order.number)),
        reason=order.reason,
        subject_ref=order.subject_ref,
        provider_state="accepted",
        provider_created_at=accepted.created_at,
    )

    def then(session: Session, request: ProcessorRequest) -> None:
        request.blacklist = order.blacklist
        first_poll = utcnow() + dt.timedelta(seconds=services.settings.voodoosms_poll_interval_seconds)
        jobs.enqueue(session, kind=jobs.VOODOOSMS_POLL, request_id=request.id, run_after=first_poll)

    return _store(services, new, then=then)


def _store(services: Services, new: registry.NewRequest, *, then: registration.After | None = None) -> Sent:
    """Store what the provider created; a failure here is logged loudly, as the provider holds a request we lost."""
    earlier: list[str] = []

    def after(session: Session, request: ProcessorRequest) -> None:
        if new.value_hash:
            earlier.extend(i for i in registry.ids_with_value_hash(session, new.value_hash) if i != new.id)
        if then is not None:
            then(session, request)

    try:
        stored = registration.store(services, new, after=after)
    except StorageError as error:
        log.error("request.unrecorded", request_id=new.id, provider=new.provider, kind=new.kind, reason=error.reason)
        raise
    log.info("request.created", request_id=stored.id, provider=stored.provider, kind=stored.kind,
             provider_state=stored.provider_state, earlier_requests=len(earlier))
    return Sent(stored, earlier)
