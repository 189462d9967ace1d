"""The database tables. Alembic migrations in ``migrations/`` create them.

What is never stored: personal data values (only a keyed hash), and in clear neither
signature keys nor the raw signed inputs of a callback (headers, URL, body): those
are sealed (``storage.crypto``); a refused delivery keeps only its body's SHA-256.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.clock import now_default

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # Every model here maps one Table (none maps a join or a select), which SQLAlchemy types as any FromClause.
        __table__: ClassVar[Table]


def row_version_column() -> Mapped[int]:
    """A row's version: 1 when inserted, one more at every update the service makes (in the same statement).

    The audit chain seals each row's versions (``storage.audit_chain``): a row whose content
    differs from its sealed version while its ``row_version`` does not was changed outside the service.
    """
    return mapped_column(Integer, default=1, server_default="1", onupdate=literal_column("row_version") + 1)


class ProcessorRequest(Base):
    """One personal-data request at one provider, from creation to proof of completion."""

    __tablename__ = "requests"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: Our own id of a request we sent (``intent-...``): its ``id`` until the provider's answer is recorded,
    #: kept afterwards so that what the admin API answered about the intent still finds the request.
    intent_id: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(32))
    value_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    subject_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    signature_key_sealed: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    state_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    provider_state: Mapped[str | None] = mapped_column(String(32))
    provider_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    callback_missing: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What ops must do by hand, when the service cannot finish the request itself.
    action_needed: Mapped[str | None] = mapped_column(Text)
    #: When reconciliation or status polling last asked the provider about this request.
    provider_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: VoodooSMS forget option: true removes the number from the account's blacklist too.
    blacklist: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default, onupdate=now_default)
    callback_received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    archiving_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    authorising_callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id"))
    archive_uri: Mapped[str | None] = mapped_column(Text)
    archive_bytes: Mapped[int | None] = mapped_column(BigInteger)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    archive_version_id: Mapped[str | None] = mapped_column(String(1024))
    archive_stored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The archive's deletion receipt (``storage.retention``): when, by whom, under which policy, and what the
    #: store removed (JSON: ``[{"versionId", "bytes", "deleteMarker", "partial"}]``). The record outlives the data.
    archive_deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    archive_deleted_by: Mapped[str | None] = mapped_column(String(64))
    archive_deletion_policy: Mapped[str | None] = mapped_column(Text)
    archive_deleted_versions: Mapped[str | None] = mapped_column(Text)
    #: Set by the retention run that decided to delete the archive, before it asked the store (its claim).
    archive_deletion_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the signature key and the sealed archive URLs were erased, the request having ended long enough ago.
    secrets_erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The data subject request (case) this request is part of; none for a request on its own.
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)

    transitions: Mapped[list[Transition]] = relationship(
        order_by="Transition.id", cascade="all, delete-orphan", back_populates="request"
    )
    #: What ops did with the request besides moving it (archive downloads), oldest first.
    events: Mapped[list[RequestEvent]] = relationship(order_by="RequestEvent.id", viewonly=True)

    __table_args__ = (
        Index("ix_requests_state_created", "state", "created_at"),
        Index("ix_requests_callback_missing", "callback_missing"),
        Index("ix_requests_intent_id", "intent_id", unique=True),
    )


class Transition(Base):
    """One change of a request's state: the audit trail behind its current state."""

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    reason: Mapped[str | None] = mapped_column(Text)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id"))
    #: The operator (API token name) who caused the move; none when the service moved it (a callback, the worker).
    actor: Mapped[str | None] = mapped_column(String(64))

    request: Mapped[ProcessorRequest] = relationship(back_populates="transitions")


class Callback(Base):
    """Every callback delivery, accepted or refused, with the verdict of each signature scheme."""

    __tablename__ = "callbacks"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    request_kind: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    http_request_id: Mapped[str | None] = mapped_column(String(64))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    body_bytes: Mapped[int | None] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    jwt_verdict: Mapped[str] = mapped_column(String(16))
    jwt_reason: Mapped[str | None] = mapped_column(String(64))
    jwt_id: Mapped[str | None] = mapped_column(String(200))
    hmac_verdict: Mapped[str] = mapped_column(String(16))
    hmac_reason: Mapped[str | None] = mapped_column(String(64))
    hmac_key_encoding: Mapped[str | None] = mapped_column(String(16))
    hmac_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    has_archive_url: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str | None] = mapped_column(Text)
    #: An accepted delivery's exact signed inputs (both signature headers, the URL verified, the body), sealed
    #: (``storage.raw_inputs``), so the verification can be run again; erased with the request's archive.
    raw_inputs_sealed: Mapped[str | None] = mapped_column(Text)


class RefusedDelivery(Base):
    """One sampled refused delivery: when, why, from where, the body's hash and size, never its content.

    A fixed number of slots (``REFUSAL_SAMPLE_CAP``) is reused in turn, so the table
    never grows past the cap however many deliveries are refused; the counters in
    ``/metrics`` count every refusal.
    """

    __tablename__ = "refused_deliveries"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    status_code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    body_bytes: Mapped[int | None] = mapped_column(Integer)


class Job(Base):
    """A unit of background work, claimed by one worker at a time through a lease."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), index=True)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id"))
    payload_sealed: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Attempts in a row that ended without a result: a handled failure, or a worker that died or lost
    #: the database (its lease expired). Planned work (``jobs.reschedule``) and ops' retry reset it.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default, onupdate=now_default)

    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),)


class ReplayKey(Base):
    """A signature or token id seen once, kept until it could no longer verify."""

    __tablename__ = "replay_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class RequestEvent(Base):
    """Something ops did with a request that is not a move of its state: an archive downloaded."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class Case(Base):
    """One data subject request (access, erasure...): the Controller's deadline, met with every processor's part.

    The state is not stored: it follows the case's requests and is derived when read
    (``storage.case_registry``). ``due_on`` is the deadline in force, stored so that cases can
    be queried by urgency; every change to it is a ``CaseEvent``.
    """

    __tablename__ = "cases"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The Controller's ticket or subject reference; never personal data in clear.
    subject_ref: Mapped[str] = mapped_column(String(200), index=True)
    right: Mapped[str] = mapped_column("subject_right", String(16))
    jurisdiction: Mapped[str] = mapped_column(String(2))
    received_on: Mapped[dt.date] = mapped_column(Date)
    clock_starts_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    #: The calendar the deadline is counted on, fixed when the case is opened (a later setting leaves it).
    calendar_country: Mapped[str | None] = mapped_column(String(8))
    calendar_subdivision: Mapped[str | None] = mapped_column(String(8))
    extension_informed_on: Mapped[dt.date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    #: The deadline in force; while the clock is stopped, as it stood on the day it stopped.
    due_on: Mapped[dt.date] = mapped_column(Date)
    original_due_on: Mapped[dt.date] = mapped_column(Date)
    #: The day the clock stopped, while it is stopped.
    paused_since: Mapped[dt.date | None] = mapped_column(Date)
    #: Closing: the day the answer went to the data subject, and how.
    responded_on: Mapped[dt.date | None] = mapped_column(Date)
    delivered_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    #: A legal hold: while set, no archive of the case is deleted (placed and released by an operator).
    legal_hold_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    legal_hold_by: Mapped[str | None] = mapped_column(String(64))
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default, onupdate=now_default)

    pauses: Mapped[list[CasePause]] = relationship(order_by="CasePause.id", cascade="all, delete-orphan")
    events: Mapped[list[CaseEvent]] = relationship(order_by="CaseEvent.id", cascade="all, delete-orphan")

    __table_args__ = (Index("ix_cases_responded_due", "responded_on", "due_on"),)


class CasePause(Base):
    """A time the case's clock was stopped (UK GDPR Art. 12A; EDPB Guidelines 01/2022)."""

    __tablename__ = "case_pauses"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    started_on: Mapped[dt.date] = mapped_column(Date)
    resumed_on: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)


class CaseEvent(Base):
    """One entry of a case's history: what changed, from what to what, why, who, when. Never updated."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    changed: Mapped[str | None] = mapped_column(String(32))
    from_value: Mapped[str | None] = mapped_column(String(200))
    to_value: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A named operator's API token: only its keyed hash is stored. Revoked tokens stay, so names stay unique."""

    __tablename__ = "api_tokens"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class Notification(Base):
    """One alert about a case or one of its requests, recorded once and sent on every channel configured then.

    ``dedupe_key`` (unique) names what it is about: the case or request, the type, the
    threshold and the date it warns of, so a check that runs twice, or on two workers
    at once, records it once. ``payload`` is the message as sent (Standard Webhooks:
    ``{"type", "timestamp", "data"}``): ids, the subject reference and dates, never
    personal data. ``id`` is its stable ``webhook-id``.
    """

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), index=True)
    threshold_days: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)


class NotificationDelivery(Base):
    """A notification on one channel (``webhook``, ``email``), sent by its own job: retried, leased, recorded."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"))
    channel: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_notification_deliveries_notification_channel", "notification_id", "channel", unique=True),
    )


class ConsoleSession(Base):
    """A signed-in operator of the ops console. The cookie holds the session id; only its SHA-256 is stored.

    A session ends at ``expires_at`` (``CONSOLE_SESSION_MINUTES`` after sign-in), at sign-out,
    or when the token it was opened with is revoked.
    """

    __tablename__ = "console_sessions"

    row_version: Mapped[int] = row_version_column()

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class AuditChainEntry(Base):
    """One link of the tamper-evident history: one version of a covered row, sealed (``storage.audit_chain``).

    ``row_digest`` is SHA-256 over the row's canonical encoding, ``entry_hash`` SHA-256 over
    ``prev_hash`` and ``row_digest``. ``seq`` counts 1, 2, 3 ... in the order rows were sealed;
    a version is sealed once (``source``, ``row_key``, ``row_version`` unique). Never updated.
    """

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(32))
    #: The row's primary key, as text.
    row_key: Mapped[str] = mapped_column(String(200))
    #: The row's ``row_version`` when sealed (1 for the rows the service never updates).
    row_version: Mapped[int] = mapped_column(Integer)
    row_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    #: When it was sealed; not hashed: it only dates the daily checkpoint published in the metrics.
    sealed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)

    __table_args__ = (Index("ix_audit_chain_source_row_key", "source", "row_key", "row_version", unique=True),)


class ConsolePerson(Base):
    """A person who signed in to the console through the identity provider, keyed on the issuer and ``sub``.

    ``id`` is short and random: the actor ``oidc:<id>`` every action of theirs records. The
    ``sub`` (not the e-mail address, which can change) says who they are at the provider;
    ``name`` is what the console and the evidence pack show; ``role`` the one their groups
    gave them at their last sign-in.
    """

    __tablename__ = "console_people"
    __table_args__ = (Index("ix_console_people_issuer_subject", "issuer", "subject", unique=True),)

    row_version: Mapped[int] = row_version_column()

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    first_signed_in_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    last_signed_in_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)


class ConsolePersonRole(Base):
    """A role a person held from ``since``: one row at their first sign-in and one at each sign-in that changed it,
    so a history names the role they held when they acted."""

    __tablename__ = "console_person_roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("console_people.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)


class AnswerPackage(Base):
    """The answer built for a case's data subject: one ZIP in the archive store, measured as it was written.

    ``state`` is ``building`` (its job queued or running), ``ready``, ``failed`` (``failure`` says why),
    ``replaced`` (a newer build of the case took its place) or ``deleted`` (the retention policy removed the
    ZIP: the receipt stays). ``files`` is the JSON list of what the ZIP holds (name, request id, bytes,
    SHA-256), never their content.
    """

    __tablename__ = "answer_packages"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    #: ``archives`` (access, portability: the data) or ``confirmation`` (the other rights: a letter).
    content: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    requested_by: Mapped[str] = mapped_column(String(64))
    #: The job that builds it (no foreign key: finished jobs are purged after ``JOB_RETENTION_DAYS``).
    job_id: Mapped[int | None] = mapped_column(Integer)
    uri: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column("bytes", BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    version_id: Mapped[str | None] = mapped_column(String(1024))
    files: Mapped[str | None] = mapped_column(Text)
    built_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(Text)
    replaced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The deletion receipt, as for a request's archive (``storage.retention``).
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(64))
    deletion_policy: Mapped[str | None] = mapped_column(Text)
    deleted_versions: Mapped[str | None] = mapped_column(Text)


class AnswerLink(Base):
    """A link that hands a package to its data subject: only the secret's keyed hash is stored, never the secret.

    ``email_hash`` is the keyed hash of the address the link was sent to (``SecretBox.value_hash``), never the
    address itself. ``complete_downloads`` counts the downloads that reached the package's last byte.
    """

    __tablename__ = "answer_links"

    row_version: Mapped[int] = row_version_column()

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("answer_packages.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    max_downloads: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    email_hash: Mapped[str | None] = mapped_column(String(64))
    email_job_id: Mapped[int | None] = mapped_column(Integer)
    email_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    complete_downloads: Mapped[int] = mapped_column(Integer, default=0)
    first_complete_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    #: When ``case.answer_not_downloaded`` was recorded for the link (it expired without a complete download).
    expiry_noted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AnswerDownload(Base):
    """One download (or resumed part of one) on a link: the proof of delivery.

    ``client_address`` is forgotten after ``CLIENT_ADDRESS_RETENTION_DAYS`` and never goes into the evidence pack.
    """

    __tablename__ = "answer_downloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    link_id: Mapped[str] = mapped_column(ForeignKey("answer_links.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    first_byte: Mapped[int] = mapped_column(BigInteger)
    bytes_sent: Mapped[int] = mapped_column(BigInteger)
    complete: Mapped[bool] = mapped_column(Boolean)
    package_sha256: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))


class AuditAnchor(Base):
    """The chain's head time-stamped by an RFC 3161 authority: a copy of it that the database alone cannot rewrite.

    ``statement`` is the exact bytes time-stamped (``storage.audit_chain.anchor_statement``:
    seq, head hash, tree root); ``token`` the authority's whole reply (``TimeStampResp``,
    DER, base64), checked with ``openssl ts -verify -data statement -in reply``. A copy of
    both is written to the archive store under ``audit/anchors/``. Never updated.
    """

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    tree_root: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text)
    tsa_url: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(Text)
    #: The time the authority put in its reply (``genTime``).
    stamped_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Where the archive store's copy is (none until it was written).
    stored_uri: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
