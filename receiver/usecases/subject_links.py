"""Links that hand the package to its data subject, and the proof that it arrived.

``create_link`` (``POST /api/cases/<id>/package/links``) makes a secret of 256 random
bits, keeps only its keyed hash (``SecretBox.token_hashes``: HMAC-SHA256 under a key
derived from ``SECRET_KEY``), and answers the URL once. No log event, error or table
holds the secret: logs name the link by its id. With ``email``, the link's e-mail job
carries the secret and the address sealed, and erases both once the e-mail is sent;
the link keeps only the address's keyed hash.

``find_link`` is the subject's side: the link a secret names, whether it still works
(not revoked, not expired, fewer than ``maxDownloads`` complete downloads, its package
still kept) and what the page shows. An unknown secret costs one keyed hash and one
indexed lookup, whatever it is, and is answered as not found.

``record_download`` keeps each download: the link, the time, the first byte and the
bytes sent, whether it reached the package's last byte (complete), the package's
SHA-256, the client's address (forgotten after ``CLIENT_ADDRESS_RETENTION_DAYS``). The
case's first complete download is an entry in its history (``answer_downloaded``) and
the ``case.answer_downloaded`` notification.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import subject_package, subject_texts
from receiver.usecases.answers import CreatedLink, PackageRecord, iso_time
from receiver.usecases.documents import LinkDocument, parse
from receiver.usecases.errors import UseCaseError
from storage import answers, case_registry, jobs, notifications
from storage.models import AnswerLink, AnswerPackage, Case
from storage.notifications import NewNotification

log = get_logger(__name__)

ANSWER_EMAIL = "answer_email"  #: the job kind that e-mails a link to its subject
LINK_CREATED, LINK_REVOKED, ANSWER_DOWNLOADED = "link_created", "link_revoked", "answer_downloaded"
NOTIFY_DOWNLOADED, NOTIFY_NOT_DOWNLOADED = "case.answer_downloaded", "case.answer_not_downloaded"
ANSWER_PATH = "/answer/"
#: 32 random bytes, URL-safe base64 without padding: what ``secrets.token_urlsafe(32)`` makes.
SECRET_BYTES = 32
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def answer_url(services: Services, secret: str) -> str:
    return services.settings.public_url + ANSWER_PATH + secret


def create_link(services: Services, case_id: str, document: Any, *, actor: str) -> CreatedLink:
    """A new link to the case's ready package; the only answer that ever holds its secret."""
    parsed = parse(LinkDocument, document)
    settings = services.settings
    language = parsed.language or settings.subject_default_language
    if parsed.email and services.subject_mail is None:
        raise UseCaseError(
            "conflict", "e-mail to the subject needs SMTP_URL and SUBJECT_EMAIL_FROM", reason="email_not_configured"
        )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = services.clock.now()
    with services.database.transaction() as session:
        case, package = _case_with_ready_package(session, case_id)
        link = answers.add_link(
            session,
            package=package,
            secret_hash=services.secrets.token_hashes(secret)[0],
            actor=actor,
            expires_at=now + dt.timedelta(days=parsed.expires_in_days),
            max_downloads=parsed.max_downloads,
            language=language,
            email_hash=services.secrets.value_hash("email", parsed.email) if parsed.email else None,
        )
        if parsed.email:
            payload = {"linkId": link.id, "secret": secret, "email": parsed.email}
            job = jobs.enqueue(
                session, kind=ANSWER_EMAIL, request_id=None, payload_sealed=services.secrets.seal(json.dumps(payload))
            )
            link.email_job_id = job.id
        case_registry.record_event(
            case,
            actor=actor,
            kind=LINK_CREATED,
            changed="link",
            to_value=link.id,
            reason=f"to {package.id}, until {link.expires_at.date().isoformat()}, at most {link.max_downloads} "
            f"complete downloads, in {language}" + (", sent by e-mail" if parsed.email else ""),
        )
        answer = CreatedLink.model_construct(
            id=link.id,
            url=answer_url(services, secret),
            expires_at=iso_time(link.expires_at),
            max_downloads=link.max_downloads,
            language=language,
            email_queued=bool(parsed.email),
        )
    log.info("answer_link.created", link_id=answer.id, case_id=case_id, emailed=bool(parsed.email))
    return answer


def _case_with_ready_package(session: Session, case_id: str) -> tuple[Case, AnswerPackage]:
    case = case_registry.find(session, case_id, for_update=True)
    if case is None:
        raise UseCaseError("not_found", "no case with this id")
    package = answers.current_package(session, case_id)
    if package is None or package.state != answers.READY:
        raise UseCaseError("conflict", "the case has no package ready to hand out", reason="package_not_ready")
    return case, package


def revoke_link(services: Services, case_id: str, link_id: str, *, actor: str) -> PackageRecord:
    """Revoke a link of the case at once (revoking one already revoked changes nothing); the package's view."""
    with services.database.transaction() as session:
        link = answers.find_link(session, link_id, for_update=True)
        case = case_registry.find(session, case_id, for_update=True)
        if link is None or case is None or link.case_id != case_id:
            raise UseCaseError("not_found", "no link with this id in this case")
        if link.revoked_at is None:
            link.revoked_at, link.revoked_by, link.revoked_reason = (
                services.clock.now(),
                actor,
                answers.REVOKED_BY_OPERATOR,
            )
            case_registry.record_event(case, actor=actor, kind=LINK_REVOKED, changed="link", from_value=link.id)
            log.info("answer_link.revoked", link_id=link.id, case_id=case_id)
    return subject_package.package_view(services, case_id)


# -- the subject's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectLink:
    """What the subject's page and download need of a link that works."""

    link_id: str
    case_id: str
    language: str
    expires_at: dt.datetime
    downloads_left: int
    package_uri: str
    package_bytes: int
    package_sha256: str
    built_at: dt.datetime
    files: tuple[answers.PackageFile, ...]
    content: str


@dataclass(frozen=True)
class LinkGone:
    """A link that no longer works, and why: ``revoked``, ``expired``, ``used_up`` or ``deleted``."""

    language: str
    reason: str


def find_link(services: Services, secret: str) -> SubjectLink | LinkGone | None:
    """The link ``secret`` names and whether it works; None when no link has it."""
    hashes = services.secrets.token_hashes(secret)  # computed for every secret, well-formed or not
    with services.database.reading_session() as session:  # a subject's page never holds up a writer
        link = answers.find_link_by_hash(session, hashes)
        if link is None or not _SECRET_SHAPE.fullmatch(secret):
            return None
        package = answers.find_package(session, link.package_id)
        assert package is not None  # the link's foreign key keeps it
        return _working(link, package, services.clock.now())


def _working(link: AnswerLink, package: AnswerPackage, now: dt.datetime) -> SubjectLink | LinkGone:
    if package.state == answers.DELETED or package.uri is None:
        return LinkGone(link.language, "deleted")
    state = subject_package.link_state(link, now)
    if state != "active":
        return LinkGone(link.language, state)
    return SubjectLink(
        link_id=link.id,
        case_id=link.case_id,
        language=link.language,
        expires_at=link.expires_at,
        downloads_left=link.max_downloads - link.complete_downloads,
        package_uri=package.uri,
        package_bytes=package.size or 0,
        package_sha256=package.sha256 or "",
        built_at=package.built_at or package.requested_at,
        files=tuple(answers.files_of(package)),
        content=package.content,
    )


def record_download(
    services: Services, link: SubjectLink, *, first_byte: int, bytes_sent: int, client_address: str | None
) -> bool:
    """Keep one download on ``link``; whether it was complete (it sent the package's last byte)."""
    complete = bytes_sent > 0 and first_byte + bytes_sent == link.package_bytes
    now = services.clock.now()
    first_for_case = False
    with services.database.transaction() as session:
        row = answers.find_link(session, link.link_id, for_update=True)
        case = case_registry.find_whole(session, link.case_id)
        if row is None or case is None:
            return complete
        answers.add_download(
            session,
            row,
            at=now,
            first_byte=first_byte,
            bytes_sent=bytes_sent,
            complete=complete,
            package_sha256=link.package_sha256,
            client_address=client_address,
        )
        if complete and not any(event.kind == ANSWER_DOWNLOADED for event in case.events):
            first_for_case = True
            _record_first_download(services, session, case, link, now)
    log.info(
        "answer.downloaded",
        link_id=link.link_id,
        case_id=link.case_id,
        first_byte=first_byte,
        bytes_sent=bytes_sent,
        complete=complete,
        first_complete=first_for_case,
    )
    return complete


def _record_first_download(
    services: Services, session: Session, case: Case, link: SubjectLink, now: dt.datetime
) -> None:
    case_registry.record_event(
        case,
        actor=case_registry.SERVICE,
        kind=ANSWER_DOWNLOADED,
        changed="answer",
        to_value=link.package_sha256,
        reason=f"{link.package_bytes} bytes, the whole package, downloaded on link {link.link_id}",
        at=now,
    )
    channels = services.notifiers.channels
    if channels:
        data = {
            "caseId": case.id,
            "subjectRef": case.subject_ref,
            "linkId": link.link_id,
            "downloadedAt": iso_time(now),
            "packageSha256": link.package_sha256,
            "bytes": link.package_bytes,
        }
        notifications.record(
            session,
            NewNotification(f"{case.id}:{NOTIFY_DOWNLOADED}", NOTIFY_DOWNLOADED, case.id, None, None, data),
            channels=channels,
            now=now,
        )


# -- the e-mail ------------------------------------------------------------------------------


def compose_email(
    services: Services, link: AnswerLink, case: Case, *, secret: str, recipient: str, now: dt.datetime
) -> EmailMessage:
    """The link's e-mail to its subject, in the link's language: plain text and HTML, the same words."""
    settings = services.settings
    sender = settings.subject_email_from or ""
    values = {
        "controller": settings.controller_name or "",
        "contact": settings.controller_contact or "",
        "right": case.right,
        "url": answer_url(services, secret),
        "until": link.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        "max_downloads": link.max_downloads,
    }
    message = EmailMessage()
    message["Subject"] = subject_texts.translate(
        link.language, "Your answer from %(controller)s", controller=values["controller"]
    )
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = f"<{link.id}@{sender.rsplit('@', 1)[-1]}>"
    message.set_content(subject_texts.render("email.txt", link.language, **values))
    message.add_alternative(subject_texts.render("email.html", link.language, **values), subtype="html")
    message["Content-Language"] = link.language  # after the content, which replaces every Content-* header
    return message


def unused_link_alerts(session: Session, *, now: dt.datetime) -> list[NewNotification]:
    """``case.answer_not_downloaded`` for each link that expired before its subject downloaded the answer (the
    deadline check records them); each link is noted once."""
    alerts = []
    for link, case in answers.expired_unused_links(session, now=now):
        link.expiry_noted_at = now
        data = {
            "caseId": case.id,
            "subjectRef": case.subject_ref,
            "linkId": link.id,
            "expiredAt": iso_time(link.expires_at),
            "dueOn": case.due_on.isoformat(),
        }
        alerts.append(
            NewNotification(f"{link.id}:{NOTIFY_NOT_DOWNLOADED}", NOTIFY_NOT_DOWNLOADED, case.id, None, None, data)
        )
    return alerts
