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

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from receiver import registration
from receiver.errors import MISSING_PARAMS, HttpProblem, invalid
from receiver.logs import get_logger
from receiver.polling import schedule_first_poll
from receiver.providers.messagebird import Order
from receiver.registration import MESSAGEBIRD_FIELDS
from receiver.services import Services
from receiver.webhooks import MESSAGEBIRD_PATH
from storage import requests
from storage.errors import StorageError
from storage.models import Request

log = get_logger("receiver.sending")

MAX_TEXT = 1000
MESSAGEBIRD_KEYS = frozenset({"kind", "field", "value", "reason", "subjectRef"})
FORGET_KEYS = frozenset({"number", "blacklist", "reason", "subjectRef"})
UK_NUMBER = re.compile(r"44[0-9]{8,13}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9][0-9 ().-]{4,24}")


@dataclass(frozen=True)
class Sent:
    """A request the provider accepted and we stored, and earlier requests about the same value."""

    request: Request
    earlier: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ForgetOrder:
    number: int = field(repr=False)
    blacklist: bool | None
    reason: str | None
    subject_ref: str | None


# -- validation: pure functions over the JSON document ------------------------------------


def parse_messagebird_document(document: Any, *, callback_url: str) -> tuple[Order, str | None]:
    """The order to send and the Controller's ``subjectRef``; a 400 ``HttpProblem`` naming what is wrong."""
    fields = _object(document, MESSAGEBIRD_KEYS)
    kind = _text(fields, "kind", required=True)
    if kind not in requests.MESSAGEBIRD_KINDS:
        raise invalid(f"kind must be one of {', '.join(sorted(requests.MESSAGEBIRD_KINDS))}", parameter="kind")
    field_name, value = _personal_data(fields, kind)
    order = Order(kind=kind, reason=_text(fields, "reason", required=True) or "", callback_url=callback_url,
                  field=field_name, value=value)
    return order, _text(fields, "subjectRef", limit=200)


def parse_forget_document(document: Any) -> ForgetOrder:
    """The forget order; a 400 ``HttpProblem`` naming what is wrong."""
    fields = _object(document, FORGET_KEYS)
    blacklist = fields.get("blacklist")
    if blacklist is not None and not isinstance(blacklist, bool):
        raise invalid("blacklist must be true or false", parameter="blacklist")
    return ForgetOrder(_uk_number(fields), blacklist, _text(fields, "reason"), _text(fields, "subjectRef", limit=200))


def _personal_data(fields: Mapping[str, Any], kind: str) -> tuple[str | None, str | None]:
    """``field`` and ``value``: both required for a KIND_PERSONAL_* request, both absent otherwise."""
    if kind not in requests.PERSONAL_KINDS:
        for name in ("field", "value"):
            if fields.get(name) is not None:
                raise invalid(f"{name} must not be given for {kind}", parameter=name)
        return None, None
    field_name = _text(fields, "field", required=True) or ""
    if field_name not in MESSAGEBIRD_FIELDS:
        raise invalid(f"field must be one of {', '.join(MESSAGEBIRD_FIELDS)}", parameter="field")
    value = _text(fields, "value", required=True) or ""
    if not value_fits(field_name, value):
        raise invalid(f"value is not a valid {field_name}", parameter="value")
    return field_name, value


def value_fits(field_name: str, value: str) -> bool:
    """Whether ``value`` has the form its ``field`` calls for (checked before anything is sent)."""
    if field_name == "email":
        return EMAIL.fullmatch(value) is not None
    if field_name == "phone_number":
        return PHONE.fullmatch(value) is not None and 6 <= sum(c.isdigit() for c in value) <= 15
    if field_name in ("ipv4", "ipv6"):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == int(field_name[-1])
    return True


def _uk_number(fields: Mapping[str, Any]) -> int:
    raw = fields.get("number")
    if raw is None or raw == "":
        raise HttpProblem(400, MISSING_PARAMS, "number is required", reason="missing_field", parameter="number")
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not UK_NUMBER.fullmatch(text):
        raise invalid("number must be digits only, beginning with 44 as VoodooSMS requires (e.g. 447700900123)",
                      parameter="number")
    return int(text)


def _object(document: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(document, dict):
        raise invalid("Body must be a JSON object")
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise invalid(f"unknown parameter {unknown[0]}", parameter=unknown[0])
    return document


def _text(fields: Mapping[str, Any], name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise HttpProblem(400, MISSING_PARAMS, f"{name} is required", reason="missing_field", parameter=name)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(f"{name} must be a string of at most {limit} characters", parameter=name)
    return value.strip()


# -- sending and storing -------------------------------------------------------------------


def send_messagebird_request(services: Services, document: Any) -> Sent:
    """Validate, send to MessageBird, store the answer; ``ProviderError`` when MessageBird refuses."""
    callback_url = services.settings.public_url + MESSAGEBIRD_PATH
    order, subject_ref = parse_messagebird_document(document, callback_url=callback_url)
    created = services.providers.messagebird.create_request(order)
    new = requests.NewRequest(
        id=created.id,
        provider=requests.MESSAGEBIRD,
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
    new = requests.NewRequest(
        id=accepted.reference,
        provider=requests.VOODOOSMS,
        kind=requests.VOODOOSMS_FORGET,
        field="phone_number",
        value_hash=services.secrets.value_hash("phone_number", str(order.number)),
        reason=order.reason,
        subject_ref=order.subject_ref,
        provider_state="accepted",
        provider_created_at=accepted.created_at,
    )

    def then(session: Session, request: Request) -> None:
        request.blacklist = order.blacklist
        schedule_first_poll(session, services.settings, request)

    return _store(services, new, then=then)


def _store(services: Services, new: requests.NewRequest, *, then: registration.After | None = None) -> Sent:
    """Store what the provider created; a failure here is logged loudly, as the provider holds a request we lost."""
    earlier: list[str] = []

    def after(session: Session, request: Request) -> None:
        if new.value_hash:
            earlier.extend(i for i in requests.ids_with_value_hash(session, new.value_hash) if i != new.id)
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
