"""Every document the service accepts, declared once as a pydantic model.

The admin API and the CLI read the same JSON documents, and MessageBird's
callback body is one too; each use case validates its input here, so a rule is
written once and the OpenAPI document can be derived from the same models.
Field names on the wire are camelCase (``subjectRef``), as MessageBird's own.

``parse`` and ``parse_json`` turn the first validation problem into a
``UseCaseError`` naming the parameter (``missing`` for an absent or blank
required one, ``invalid`` otherwise) and never echo the offending value, which
may be personal data.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from receiver.usecases.errors import UseCaseError
from storage import lifecycle
from storage.case_registry import JURISDICTIONS, RIGHTS
from storage.case_registry import STATES as CASE_STATES
from storage.registry import GET_KINDS as GET_KINDS  # the request kinds, for the adapters (the console's form)
from storage.registry import KINDS as KINDS
from storage.registry import PERSONAL_KINDS as PERSONAL_KINDS
from storage.registry import PROVIDERS, ForgetKind, Kind

MAX_TEXT = 1000
# The documented values of the Personal Data API's ``field`` attribute.
MESSAGEBIRD_FIELDS = ("phone_number", "email", "ipv4", "ipv6", "address", "name", "chat api contact ID")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9][0-9 ().-]{4,24}")
UK_NUMBER = re.compile(r"44[0-9]{8,13}")
UK_NUMBER_SCHEMA = {
    "description": "A UK number as VoodooSMS takes it: digits only, beginning with 44",
    "anyOf": [{"type": "string", "pattern": "^44[0-9]{8,13}$"}, {"type": "integer"}],
}

# The values are written out for the type checker; the asserts keep them the storage layer's own. The request
# kinds are storage's own types (``storage.registry.Kind``: MessageBird's; ``AnyKind``: VoodooSMS's forget too).
AnyKind = Literal[Kind, ForgetKind]
RequestState = Literal["sending", "sent", "callback_received", "archiving", "completed", "failed"]
Provider = Literal["messagebird", "voodoosms"]
CaseState = Literal["open", "waiting_on_processors", "ready", "needs_attention", "closed"]
MessageBirdField = Literal["phone_number", "email", "ipv4", "ipv6", "address", "name", "chat api contact ID"]
Right = Literal["access", "erasure", "rectification", "restriction", "portability", "objection"]
Jurisdiction = Literal["EU", "UK"]
assert get_args(RequestState) == lifecycle.STATES and get_args(Provider) == PROVIDERS
assert get_args(CaseState) == CASE_STATES
assert get_args(Right) == RIGHTS and get_args(Jurisdiction) == JURISDICTIONS
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _blank_is_absent(value: Any) -> Any:
    """A blank string counts as not given: ``""`` and ``"  "`` are ``None``."""
    return None if isinstance(value, str) and not value.strip() else value


def _storable(value: str) -> str:
    """Text every database keeps: encodable as UTF-8 (JSON's lone surrogates are not), no NUL (PostgreSQL)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("unstorable", "holds characters that cannot be stored") from None
    if "\x00" in value:
        raise PydanticCustomError("unstorable", "holds characters that cannot be stored")
    return value


def value_fits(field_name: str | None, value: str) -> bool:
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


def _uk_number(raw: Any) -> int:
    if raw is None or raw == "":
        raise PydanticCustomError("missing", "is required")
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not UK_NUMBER.fullmatch(text):
        raise PydanticCustomError(
            "uk_number", "must be digits only, beginning with 44 as VoodooSMS requires (e.g. 447700900123)"
        )
    return int(text)


def _blank_is_missing(value: Any) -> Any:
    """A required text given blank is missing, as if it were not given at all."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PydanticCustomError("missing", "is required")
    return value


def _url_text(value: str | None) -> str | None:
    return (_storable(value).strip() or None) if value else None


def _iso_date(value: Any) -> dt.date:
    """A calendar date written ``YYYY-MM-DD`` (JSON has no date type)."""
    if isinstance(value, str) and ISO_DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if value is None or value == "":
        raise PydanticCustomError("missing", "is required")
    raise PydanticCustomError("date_form", "must be a date written YYYY-MM-DD")


def _a_reference(value: str) -> str:
    """``subjectRef`` names a ticket or a subject, never carries personal data: no e-mail address or phone number."""
    if EMAIL.fullmatch(value) or (value.startswith("+") and PHONE.fullmatch(value)):
        raise PydanticCustomError("not_a_reference", "must be a reference, not an e-mail address or phone number")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT), AfterValidator(_storable)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_storable)]
#: What the JSON Schema says of a text that ``_blank_is_missing`` guards: it holds a character besides spaces.
NOT_BLANK = Field(json_schema_extra={"pattern": r"\S"})
RequiredText = Annotated[Text, BeforeValidator(_blank_is_missing), NOT_BLANK]
OptionalText = Annotated[Text | None, BeforeValidator(_blank_is_absent)]
OptionalShortText = Annotated[ShortText | None, BeforeValidator(_blank_is_absent)]
# The constraints come before the validator that runs first, so that they reach the JSON Schema.
RequestId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"),
    BeforeValidator(_blank_is_missing),
]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
CaseId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,31}$"),
    BeforeValidator(_blank_is_absent),
]
SubjectRef = Annotated[ShortText, BeforeValidator(_blank_is_missing), AfterValidator(_a_reference), NOT_BLANK]
CallbackText = Annotated[
    str,
    BeforeValidator(_blank_is_missing),
    StringConstraints(strip_whitespace=True),
    AfterValidator(_storable),
    NOT_BLANK,
]


class Document(BaseModel):
    """A document from ops: camelCase on the wire, unknown parameters refused, values trimmed."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        hide_input_in_errors=True,
    )


class ImportRequestDocument(Document):
    """``POST /api/requests/import``: a MessageBird request created elsewhere, with its ``signatureKey``."""

    id: RequestId = Field(description="MessageBird's request id")
    signature_key: RequiredText = Field(
        repr=False, description="The request's signatureKey, stored sealed, never shown"
    )
    kind: Kind
    field: Annotated[MessageBirdField | None, BeforeValidator(_blank_is_absent)] = None
    reason: OptionalText = None
    subject_ref: OptionalShortText = Field(None, description="The Controller's reference; never personal data")
    case_id: CaseId | None = Field(None, description="The case (data subject request) the request is part of")


class MessageBirdRequestDocument(Document):
    """``POST /api/requests``: a Personal Data request to send to MessageBird.

    ``field`` and ``value`` are required for ``KIND_PERSONAL_*`` and must be absent for
    ``KIND_USER_*``; ``value`` must have the form its ``field`` calls for. It is sent
    and never kept: the record holds only its keyed hash.
    """

    kind: Kind
    field: Annotated[MessageBirdField | None, BeforeValidator(_blank_is_absent)] = Field(None, validate_default=True)
    value: Annotated[Text | None, BeforeValidator(_blank_is_absent)] = Field(None, repr=False, validate_default=True)
    reason: RequiredText
    subject_ref: OptionalShortText = None
    case_id: CaseId | None = None

    @field_validator("field", "value")
    @classmethod
    def _given_exactly_for_personal_kinds(cls, given: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind is None:
            return given
        if kind not in PERSONAL_KINDS and given is not None:
            raise PydanticCustomError("not_allowed", "must not be given for {kind}", {"kind": kind})
        if kind in PERSONAL_KINDS and given is None:
            raise PydanticCustomError("missing", "is required")
        if info.field_name == "value" and given is not None and not value_fits(info.data.get("field"), given):
            raise PydanticCustomError("value_form", "is not a valid {field}", {"field": info.data.get("field")})
        return given


class ForgetDocument(Document):
    """``POST /api/forget``: a VoodooSMS forget request for one UK number (digits, starting 44)."""

    number: Annotated[int, BeforeValidator(_uk_number), WithJsonSchema(UK_NUMBER_SCHEMA)] = Field(repr=False)
    blacklist: StrictBool | None = None
    reason: OptionalText = None
    subject_ref: OptionalShortText = None
    case_id: CaseId | None = None


class CaseDocument(Document):
    """``POST /api/cases``: one data subject request, as the Controller received it.

    ``clockStartsOn`` is the UK's later start of the clock (UK GDPR Art. 12A: the
    latest of receipt, identity confirmed, fee paid); the deadline engine refuses it
    for an EU case.
    """

    subject_ref: SubjectRef
    right: Right
    received_on: IsoDate = Field(
        description="The day the Controller received it: not after today, nor before 2018-05-25, the day the GDPR "
        "applied (Art. 99(2))"
    )
    jurisdiction: Jurisdiction
    clock_starts_on: Annotated[IsoDate | None, BeforeValidator(_blank_is_absent)] = None
    notes: OptionalText = None


class ExtendDocument(Document):
    """``POST /api/cases/<id>/extend``: the reason given to the data subject, and the day they were told."""

    reason: RequiredText
    informed_on: IsoDate


class PauseDocument(Document):
    """``POST /api/cases/<id>/pause``: why the clock stops (information asked of the subject), and since when."""

    reason: RequiredText
    day: IsoDate = Field(alias="date")


class ResumeDocument(Document):
    """``POST /api/cases/<id>/resume``: the day the clock runs again (the information arrived)."""

    day: IsoDate = Field(alias="date")


class CloseDocument(Document):
    """``POST /api/cases/<id>/close``: the day the answer went out and how; an override to close with requests open."""

    responded_on: IsoDate
    delivered_by: RequiredText
    override_reason: OptionalText = None


class Query(BaseModel):
    """A list's query parameters: camelCase, each given once as text, a blank one absent, unknown ones ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )


def _flag(text: Any) -> Any:
    """``true`` and ``false`` as booleans; anything else is left for the strict check to refuse."""
    return {"true": True, "false": False}.get(text, text)


BlankIsAbsent = BeforeValidator(_blank_is_absent)
Cursor = Annotated[
    Annotated[str, StringConstraints(max_length=512), Field(description="nextCursor of the page before")] | None,
    BlankIsAbsent,
]
Flag = Annotated[Annotated[StrictBool, BeforeValidator(_flag)] | None, BlankIsAbsent]


class RequestQuery(Query):
    """``GET /api/requests``: requests newest first, filtered."""

    state: Annotated[RequestState | None, BlankIsAbsent] = None
    kind: Annotated[AnyKind | None, BlankIsAbsent] = None
    provider: Annotated[Provider | None, BlankIsAbsent] = None
    callback_missing: Flag = Field(None, description="true: only requests done at MessageBird with no callback here")
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor = None


class CaseQuery(Query):
    """``GET /api/cases``: cases most urgent first, filtered."""

    state: Annotated[CaseState | None, BlankIsAbsent] = None
    overdue: Flag = None
    due_before: Annotated[IsoDate | None, BlankIsAbsent] = Field(None, description="Only cases due before this date")
    right: Annotated[Right | None, BlankIsAbsent] = None
    jurisdiction: Annotated[Jurisdiction | None, BlankIsAbsent] = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor = None


class RefusedQuery(Query):
    """``GET /api/deliveries/refused``: the most recent sampled refusals."""

    limit: Annotated[int, Field(ge=1, le=500)] = 100


class LegalHoldDocument(Document):
    """``POST /api/cases/<id>/legal-hold``: why the case's archives must be kept (a claim, an investigation)."""

    reason: RequiredText


class ReleaseHoldDocument(Document):
    """``DELETE /api/cases/<id>/legal-hold``: optionally, why the hold ends."""

    reason: OptionalText = None


class CallbackBody(BaseModel):
    """MessageBird's Personal Data callback: ``{requestId, requestKind, result, data}``; other keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="ignore", frozen=True, strict=True, hide_input_in_errors=True
    )

    request_id: CallbackText
    request_kind: CallbackText
    result: Annotated[str, AfterValidator(_storable)] | None = None
    #: The archive URL, for GET kinds: a bearer secret, sealed at rest and never logged.
    data: Annotated[str | None, AfterValidator(_url_text)] = Field(None, repr=False)


Model = TypeVar("Model", bound=BaseModel)
_OWN_ERROR_TYPES = frozenset({"unstorable", "not_allowed", "value_form", "uk_number", "date_form", "not_a_reference"})


def parse(model: type[Model], document: Any) -> Model:
    """``document`` (parsed JSON) as ``model``; ``UseCaseError`` naming the first problem."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise _refusal(model, error) from None


def parse_json(model: type[Model], raw: bytes) -> Model:
    """The raw JSON bytes as ``model``; ``UseCaseError`` for bad JSON or the first problem."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _refusal(model, error) from None


def _refusal(model: type[BaseModel], error: ValidationError) -> UseCaseError:
    first = error.errors(include_input=False, include_url=False)[0]
    kind, location = first["type"], first["loc"]
    if kind in ("json_invalid", "recursion_loop") or (kind == "model_type" and not location):
        message = "Body is not valid JSON" if kind != "model_type" else "Body must be a JSON object"
        return UseCaseError("invalid", message, reason="malformed_json")
    if kind in ("model_attributes_type", "dict_type", "model_type") and not location:
        return UseCaseError("invalid", "Body must be a JSON object", reason="malformed_json")
    name = _wire_name(model, location)
    if kind == "missing":
        return UseCaseError("missing", f"{name} is required", reason="missing_field", parameter=name)
    if kind == "extra_forbidden":
        return UseCaseError("invalid", f"unknown parameter {name}", reason="unknown_parameter", parameter=name)
    own_words = kind in _OWN_ERROR_TYPES  # written to follow the parameter's name: "value is not a valid email"
    description = f"{name} {first['msg']}" if own_words else f"{name}: {first['msg']}"
    return UseCaseError("invalid", description, parameter=name)


def _wire_name(model: type[BaseModel], location: tuple[int | str, ...]) -> str:
    """The parameter as the caller wrote it (``subjectRef``), from pydantic's error location."""
    head = str(location[0]) if location else "body"
    info = model.model_fields.get(head)
    return (info.alias or head) if info is not None else head


def _email_address(value: str) -> str:
    if EMAIL.fullmatch(value.strip()) is None:
        raise PydanticCustomError("email", "must be one e-mail address")
    return value.strip()


SubjectEmail = Annotated[str, AfterValidator(_email_address)]


class LinkDocument(Document):
    """``POST /api/cases/<id>/package/links``: how long and how often the link works, whom to e-mail it to."""

    max_downloads: int = Field(5, ge=1, le=20, description="Complete downloads the link allows")
    expires_in_days: int = Field(14, ge=1, le=90, description="Days the link works")
    email: SubjectEmail | None = Field(
        None, repr=False, description="The subject's address: the link is e-mailed there; only its keyed hash is kept"
    )
    language: Literal["en", "nl"] | None = Field(
        None, description="The language of the page and the e-mail (default SUBJECT_DEFAULT_LANGUAGE)"
    )
