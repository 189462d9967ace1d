"""Every JSON document the service answers with, declared once as a pydantic model.

``documents`` declares what comes in; this module what goes out. The use cases
return these models and the adapters write them out (``Answer.as_json``: camelCase,
every field); the OpenAPI document (``GET /api/openapi.json``) is generated from
the same models, so the contract and the answers cannot drift apart.

A use case builds its answer with ``model_construct``: mypy's pydantic plugin checks
each field's name and type, and nothing is validated on the way out, so a slip of
ours never costs a request; the test suite holds every answer it sees to the
document (``tests.support.contract``), so the slip fails a test instead.

Timestamps are RFC 3339 in UTC (``2025-01-31T09:30:00.123456Z``, ``iso_time``),
dates ``YYYY-MM-DD``; both are strings in the models. Field names on the wire are
camelCase, as in the documents.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from receiver.usecases.documents import AnyKind, CaseState, Jurisdiction, Provider, RequestState, Right

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Day = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Answer(BaseModel):
    """An answer of the API: camelCase on the wire, every field declared, nothing else."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def as_json(self) -> dict[str, Any]:
        """The answer as it goes on the wire: camelCase names, every field (null when empty)."""
        return self.model_dump(mode="json", by_alias=True)


@overload
def iso_time(value: dt.datetime) -> str: ...
@overload
def iso_time(value: dt.datetime | None) -> str | None: ...
def iso_time(value: dt.datetime | None) -> str | None:
    """A UTC time as the answers write it (``...Z``), or None."""
    return value.isoformat().replace("+00:00", "Z") if value else None


@overload
def iso_day(value: dt.date) -> str: ...
@overload
def iso_day(value: dt.date | None) -> str | None: ...
def iso_day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- errors --------------------------------------------------------------------------------


class ErrorDetail(Answer):
    """One problem, with MessageBird's error code and, when one input is to blame, its name."""

    code: int = Field(
        description="MessageBird's error code: 2 not allowed, 9 missing, 10 invalid, 20 not found, "
        "21 bad request, 99 internal, 100 unavailable, 101 conflict; a provider's own "
        "code when it refused"
    )
    description: str = Field(description="What went wrong, for people; never a secret or a personal data value")
    parameter: str | None = Field(None, description="The parameter to blame (absent when none is)")


class ErrorAnswer(Answer):
    """MessageBird's error shape, which every refusal uses: ``{"errors": [{"code", "description", "parameter"?}]}``."""

    errors: list[ErrorDetail] = Field(min_length=1)


# -- processor requests --------------------------------------------------------------------


class DeletedVersion(Answer):
    """One object version (or delete marker, or partial file) the store listed and removed."""

    version_id: str | None = Field(description="The S3 version id; null in the file store and unversioned buckets")
    size: int | None = Field(alias="bytes", description="Its size as the store listed it")
    delete_marker: bool
    partial: bool = Field(description="An incomplete upload or a partial file a broken write left")


class DeletionReceipt(Answer):
    """The proof that an archive was deleted under the retention policy (or by an operator)."""

    deleted_at: Timestamp
    deleted_by: str | None = Field(description="The operator, or the retention run's actor")
    policy: str | None = Field(description="The rule it was deleted under, e.g. ARCHIVE_RETENTION_DAYS and its value")
    uri: str
    version_ids: list[str]
    versions: list[DeletedVersion]
    size: int | None = Field(alias="bytes", description="Bytes of what was deleted, as measured when it was stored")
    sha256: Sha256 | None = Field(description="SHA-256 of what was deleted, as measured when it was stored")
    measured_at: Timestamp | None


class ArchiveRecord(Answer):
    """Where a request's archive is stored, and what was stored; once deleted, the receipt."""

    uri: str = Field(description="The archive store's URI (s3://bucket/key or file://...); never the provider's URL")
    size: int | None = Field(alias="bytes", description="Bytes stored")
    sha256: Sha256 | None
    version_id: str | None = Field(description="The S3 object version, when the bucket is versioned")
    stored_at: Timestamp | None
    deleted_at: Timestamp | None = Field(description="When the retention policy deleted it; null while kept")
    deletion_receipt: DeletionReceipt | None


class RequestRecord(Answer):
    """A processor request as ops see it: never its signature key, never the personal data value."""

    id: str = Field(
        description="The provider's id (MessageBird's id, VoodooSMS's reference), or our intent's id "
        "(intent-...) while the provider's answer is not recorded"
    )
    intent_id: str | None = Field(
        description="The id it was sent under, which GET /api/requests/{requestId} keeps finding"
    )
    provider: Provider
    kind: AnyKind
    field: str | None
    state: RequestState
    state_reason: str | None
    subject_ref: str | None
    case_id: str | None
    reason: str | None
    result: str | None
    provider_state: str | None
    callback_missing: bool
    action_needed: str | None
    provider_created_at: Timestamp | None
    provider_checked_at: Timestamp | None
    blacklist: bool | None
    has_value_hash: bool = Field(description="Whether a keyed hash of the value is held (the value itself never is)")
    created_at: Timestamp
    updated_at: Timestamp
    callback_received_at: Timestamp | None
    archiving_at: Timestamp | None
    completed_at: Timestamp | None
    failed_at: Timestamp | None
    secrets_erased_at: Timestamp | None = Field(
        description="When the signature key and sealed archive URLs were erased under the retention policy"
    )
    archive: ArchiveRecord | None


class TransitionRecord(Answer):
    """One move of a request's state, and who or what caused it."""

    from_state: RequestState | None = Field(alias="from")
    to_state: RequestState = Field(alias="to")
    at: Timestamp
    reason: str | None
    callback_id: int | None = Field(description="The callback that authorised the move")
    actor: str | None = Field(description="The operator who caused it; null when the service moved it")


class RequestEventRecord(Answer):
    """Something ops did with a request besides moving it, e.g. ``archive_downloaded``."""

    at: Timestamp
    kind: str
    actor: str
    note: str | None


class JwtVerdict(Answer):
    verdict: str = Field(description="passed, failed, absent or unchecked")
    reason: str | None
    jti: str | None


class HmacVerdict(Answer):
    verdict: str = Field(description="passed, failed, absent or unchecked")
    reason: str | None
    key_encoding: str | None = Field(description="How the signatureKey matched: base64 or raw")
    timestamp: int | None = Field(description="The signature's t, in Unix seconds")


class CallbackRecord(Answer):
    """A recorded callback delivery with each signature scheme's verdict; never its body."""

    id: int
    received_at: Timestamp
    verdict: str = Field(description="accepted or duplicate")
    reason: str | None
    status: int = Field(description="The HTTP status it was answered with")
    request_kind: str | None
    jwt: JwtVerdict
    hmac: HmacVerdict
    body_sha256: Sha256 | None
    body_bytes: int | None
    has_archive_url: bool
    remote_addr: str | None


class RequestDetail(RequestRecord):
    """The whole record: the summary, its state history, ops' events, every callback, the chain of custody."""

    transitions: list[TransitionRecord]
    events: list[RequestEventRecord]
    callbacks: list[CallbackRecord]
    authorising_callback_id: int | None


class RequestPage(Answer):
    """Requests, newest first; ``nextCursor`` asks for the next page (null on the last)."""

    requests: list[RequestRecord]
    next_cursor: str | None


class SentRequest(RequestRecord):
    """A request just sent (201), with the earlier requests about the same value."""

    earlier_requests: list[str] = Field(description="Ids of earlier requests about the same keyed value hash")


class RecordingPending(SentRequest):
    """202: the provider accepted the request, but recording its answer failed; reconciliation resolves it."""

    status: Literal["recording_pending"]
    provider_request_id: str | None
    description: str | None


class OutcomeUnknown(ErrorAnswer):
    """504 (502 for an unreadable answer): the provider never answered; the intent is kept and resolved later."""

    request: SentRequest


class ArchiveLink(Answer):
    """A short-lived presigned URL to the stored archive (S3)."""

    url: str
    expires_in: int = Field(description="Seconds the URL stays valid")


# -- cases ---------------------------------------------------------------------------------


class LegalHold(Answer):
    """A legal hold: while placed, no archive of the case is deleted."""

    since: Timestamp
    by: str | None
    reason: str | None


class CaseSummary(Answer):
    """A case as a list shows it: who, which right, the deadline in force and how urgent it is."""

    id: str
    subject_ref: str
    right: Right
    jurisdiction: Jurisdiction
    received_on: Day
    clock_starts_on: Day | None
    state: CaseState
    due_on: Day
    original_due_on: Day
    days_left: int | None = Field(description="Negative when overdue; null once closed")
    overdue: bool
    target_on: Day = Field(description="The processors' target: dueOn less PROCESSOR_MARGIN_DAYS")
    extended: bool
    paused: bool
    paused_since: Day | None
    request_count: int
    responded_on: Day | None
    delivered_by: str | None
    answered_in_time: bool | None
    notes: str | None
    created_at: Timestamp
    created_by: str
    closed_at: Timestamp | None
    closed_by: str | None
    legal_hold: LegalHold | None


class DeadlineStep(Answer):
    """One rule the deadline engine applied, with its source."""

    rule: str
    source: str
    from_date: Day | None = Field(alias="from")
    to_date: Day | None = Field(alias="to")
    note: str | None


class DeadlineCalendar(Answer):
    jurisdiction: Jurisdiction
    country: str | None
    subdivision: str | None


class DeadlinePause(Answer):
    started_on: Day
    resumed_on: Day | None
    reason: str


class DeadlineExtension(Answer):
    informed_on: Day
    reason: str


class DeadlineRecord(Answer):
    """The deadline in force, how it was computed, and on which calendar."""

    due_on: Day
    original_due_on: Day
    explanation: str
    steps: list[DeadlineStep]
    calendar: DeadlineCalendar
    paused_days: int
    pauses: list[DeadlinePause]
    extension: DeadlineExtension | None


class CaseRequest(RequestRecord):
    """A processor request of the case, with its target and whether it is late."""

    target_on: Day
    late: bool


class CaseEventRecord(Answer):
    """One entry of a case's history: what changed, from what to what, why, who, when."""

    at: Timestamp
    actor: str
    kind: str
    changed: str | None
    from_value: str | None = Field(alias="from")
    to_value: str | None = Field(alias="to")
    reason: str | None
    request_id: str | None = Field(
        description="For a request_added entry, the request's id now: a request sent by "
        "the service is recorded under its intent id (intent-...) and keeps "
        "the provider's id once answered; null when it no longer exists"
    )


class CaseDetail(CaseSummary):
    """The whole case: the summary, the deadline explained, each request with its target, the history."""

    deadline: DeadlineRecord
    requests: list[CaseRequest]
    history: list[CaseEventRecord]


class CasePage(Answer):
    """Cases, most urgent first; ``nextCursor`` asks for the next page (null on the last)."""

    cases: list[CaseSummary]
    next_cursor: str | None


# -- deliveries and the service ------------------------------------------------------------


class RefusedSample(Answer):
    """A sampled refused delivery: never its content."""

    received_at: Timestamp
    status: int
    reason: str
    remote_addr: str | None
    body_sha256: Sha256 | None
    body_bytes: int | None


class RefusedPage(Answer):
    """The sampled refusals of the retention period, newest first."""

    refused: list[RefusedSample]


class CallbackAnswer(Answer):
    """A callback verified and recorded (``accepted``), or a repeat that changed nothing (``duplicate``)."""

    status: Literal["accepted", "duplicate"]
    request_id: str


class HeldArchive(Answer):
    """Where one archive of a case stands under the retention policy."""

    request_id: str
    state: Literal["kept", "being deleted", "deleted"]
    deleted_at: Timestamp | None


class LegalHoldView(Answer):
    """A case's legal hold (null when none) and its archives."""

    case_id: str
    legal_hold: LegalHold | None
    archives: list[HeldArchive]


class Health(Answer):
    status: Literal["ok"]


class Readiness(Answer):
    """Each backend's probe: ``ok``, or why not (``unavailable``, ``timeout``, ...)."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


# -- the subject's answer ------------------------------------------------------------------


class PackageFileRecord(Answer):
    """One file of the subject's package."""

    name: str
    request_id: str | None = Field(description="The processor request whose archive it is; null for an index")
    size: int = Field(alias="bytes")
    sha256: Sha256


class AnswerDownloadRecord(Answer):
    """One download on a link: the proof of delivery (never the client's address)."""

    at: Timestamp
    first_byte: int = Field(description="0, or where a resumed download (Range) started")
    bytes_sent: int
    complete: bool = Field(description="It sent the package's last byte")
    package_sha256: Sha256


class AnswerLinkRecord(Answer):
    """A link to the subject's package, as ops see it: never its secret."""

    id: str
    package_id: str
    state: Literal["active", "revoked", "expired", "used_up"]
    created_at: Timestamp
    created_by: str
    expires_at: Timestamp
    max_downloads: int
    complete_downloads: int
    language: str
    emailed: bool = Field(description="It was given an address to e-mail it to (only a keyed hash is kept)")
    email_sent_at: Timestamp | None
    revoked_at: Timestamp | None
    revoked_by: str | None
    revoked_reason: str | None
    downloads: list[AnswerDownloadRecord]


class PackageReceipt(Answer):
    """The package's deletion under the retention policy."""

    deleted_at: Timestamp
    deleted_by: str | None
    policy: str | None
    uri: str | None
    versions: list[dict[str, Any]]
    size: int | None = Field(alias="bytes")
    sha256: Sha256 | None


class ClosingProposal(Answer):
    """How the case may be closed once the subject downloaded the answer (GDPR Art. 12(3): provided when sent)."""

    responded_on: Day
    delivered_by: str
    downloaded_at: Timestamp
    link_id: str


class PackageRecord(Answer):
    """``GET /api/cases/<id>/package``: the subject's package that counts, its links, their downloads."""

    state: Literal["none", "building", "ready", "failed", "deleted"]
    id: str | None = None
    content: Literal["archives", "confirmation"] | None = None
    size: int | None = Field(None, alias="bytes")
    sha256: Sha256 | None = None
    files: list[PackageFileRecord] = Field(default_factory=list)
    requested_at: Timestamp | None = None
    requested_by: str | None = None
    built_at: Timestamp | None = None
    failure: str | None = None
    deletion_receipt: PackageReceipt | None = None
    links: list[AnswerLinkRecord] = Field(default_factory=list)
    closing_proposal: ClosingProposal | None = None


class CreatedLink(Answer):
    """A new link: ``url`` holds its secret, shown this once and never again."""

    id: str
    url: str
    expires_at: Timestamp
    max_downloads: int
    language: str
    email_queued: bool
