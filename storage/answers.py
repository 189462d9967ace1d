"""The answer to a data subject: its packages, the links that hand them out, and each download on a link.

A case has at most one package that counts: the newest one that is not ``replaced``.
Building again replaces the one before and revokes its links. A link is found by the
keyed hash of its secret only (``SecretBox.token_hashes``): the secret is never stored.
A download is one response that sent bytes of the package; it is ``complete`` when it
sent the package's last byte, and a link counts its complete downloads.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import AnswerDownload, AnswerLink, AnswerPackage, Case

BUILDING, READY, FAILED, REPLACED, DELETED = "building", "ready", "failed", "replaced", "deleted"
ARCHIVES, CONFIRMATION = "archives", "confirmation"

#: Why a link stopped working before its time.
REVOKED_BY_OPERATOR, REVOKED_REBUILT, REVOKED_DELETED = "revoked", "package_rebuilt", "package_deleted"


def new_package_id() -> str:
    return "pkg-" + uuid.uuid4().hex[:24]


def new_link_id() -> str:
    return "lnk-" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class PackageFile:
    """One file of a package: its name in the ZIP, the request it answers (if any), its size and SHA-256."""

    name: str
    request_id: str | None
    size: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "requestId": self.request_id, "bytes": self.size, "sha256": self.sha256}


def files_of(package: AnswerPackage) -> list[PackageFile]:
    return [
        PackageFile(item["name"], item.get("requestId"), int(item["bytes"]), item["sha256"])
        for item in json.loads(package.files or "[]")
    ]


def add_package(
    session: Session, package_id: str, *, case_id: str, content: str, actor: str, job_id: int | None
) -> AnswerPackage:
    """A package asked for: ``building`` until its job (``job_id``) records it built or failed."""
    package = AnswerPackage(
        id=package_id, case_id=case_id, state=BUILDING, content=content, requested_by=actor, job_id=job_id
    )
    session.add(package)
    session.flush()
    return package


def current_package(session: Session, case_id: str) -> AnswerPackage | None:
    """The case's package that counts: the newest one not replaced by a later build."""
    statement = (
        select(AnswerPackage)
        .where(AnswerPackage.case_id == case_id, AnswerPackage.state != REPLACED)
        .order_by(AnswerPackage.requested_at.desc(), AnswerPackage.id.desc())
    )
    return session.scalars(statement.limit(1)).first()


def find_package(session: Session, package_id: str, *, for_update: bool = False) -> AnswerPackage | None:
    statement = select(AnswerPackage).where(AnswerPackage.id == package_id)
    return session.scalars(statement.with_for_update() if for_update else statement).first()


def mark_ready(
    session: Session,
    package: AnswerPackage,
    *,
    uri: str,
    size: int,
    sha256: str,
    version_id: str | None,
    files: Sequence[PackageFile],
    at: dt.datetime,
) -> list[str]:
    """Record the package built, replace every earlier package of the case; the ids of the links that revoked."""
    package.state, package.uri, package.size, package.sha256 = READY, uri, size, sha256
    package.version_id, package.built_at = version_id, at
    package.files = json.dumps([file.as_json() for file in files])
    older = session.scalars(
        select(AnswerPackage).where(
            AnswerPackage.case_id == package.case_id,
            AnswerPackage.id != package.id,
            AnswerPackage.state.in_((READY, FAILED, BUILDING)),
        )
    ).all()
    for earlier in older:
        earlier.state, earlier.replaced_at = REPLACED, at
    return revoke_links_of(session, [earlier.id for earlier in older], at=at, by=None, reason=REVOKED_REBUILT)


def mark_failed(package: AnswerPackage, reason: str) -> None:
    package.state, package.failure = FAILED, reason[:1000]


def revoke_links_of(
    session: Session, package_ids: Collection[str], *, at: dt.datetime, by: str | None, reason: str
) -> list[str]:
    """Revoke every link to ``package_ids`` still working; their ids."""
    if not package_ids:
        return []
    links = session.scalars(
        select(AnswerLink).where(AnswerLink.package_id.in_(package_ids), AnswerLink.revoked_at.is_(None))
    ).all()
    for link in links:
        link.revoked_at, link.revoked_by, link.revoked_reason = at, by, reason
    return [link.id for link in links]


def add_link(
    session: Session,
    *,
    package: AnswerPackage,
    secret_hash: str,
    actor: str,
    expires_at: dt.datetime,
    max_downloads: int,
    language: str,
    email_hash: str | None,
) -> AnswerLink:
    link = AnswerLink(
        id=new_link_id(),
        package_id=package.id,
        case_id=package.case_id,
        secret_hash=secret_hash,
        created_by=actor,
        expires_at=expires_at,
        max_downloads=max_downloads,
        language=language,
        email_hash=email_hash,
        complete_downloads=0,
    )
    session.add(link)
    session.flush()
    return link


def find_link_by_hash(session: Session, secret_hashes: Sequence[str]) -> AnswerLink | None:
    """The link whose secret has one of ``secret_hashes`` (one per ``SECRET_KEY``, newest first)."""
    return session.scalars(select(AnswerLink).where(AnswerLink.secret_hash.in_(secret_hashes))).first()


def find_link(session: Session, link_id: str, *, for_update: bool = False) -> AnswerLink | None:
    statement = select(AnswerLink).where(AnswerLink.id == link_id)
    return session.scalars(statement.with_for_update() if for_update else statement).first()


def links_of_case(session: Session, case_id: str) -> Sequence[AnswerLink]:
    statement = select(AnswerLink).where(AnswerLink.case_id == case_id)
    return session.scalars(statement.order_by(AnswerLink.created_at, AnswerLink.id)).all()


def downloads_of(session: Session, link_ids: Collection[str]) -> dict[str, list[AnswerDownload]]:
    found: dict[str, list[AnswerDownload]] = {link_id: [] for link_id in link_ids}
    if link_ids:
        statement = select(AnswerDownload).where(AnswerDownload.link_id.in_(link_ids))
        for download in session.scalars(statement.order_by(AnswerDownload.at, AnswerDownload.id)):
            found[download.link_id].append(download)
    return found


def add_download(
    session: Session,
    link: AnswerLink,
    *,
    at: dt.datetime,
    first_byte: int,
    bytes_sent: int,
    complete: bool,
    package_sha256: str,
    client_address: str | None,
) -> AnswerDownload:
    """Record one download on ``link``; a complete one is counted on the link in the same statement."""
    download = AnswerDownload(
        link_id=link.id,
        at=at,
        first_byte=first_byte,
        bytes_sent=bytes_sent,
        complete=complete,
        package_sha256=package_sha256,
        client_address=client_address,
    )
    session.add(download)
    if complete:
        session.execute(
            update(AnswerLink)
            .where(AnswerLink.id == link.id)
            .values(complete_downloads=AnswerLink.complete_downloads + 1)
            .execution_options(synchronize_session=False)
        )
        if link.first_complete_at is None:
            link.first_complete_at = at
    session.flush()
    return download


def forget_download_addresses(session: Session, *, before: dt.datetime) -> int:
    """Erase the client address of every download made before ``before``; how many were erased."""
    result = session.execute(
        update(AnswerDownload)
        .where(AnswerDownload.at < before, AnswerDownload.client_address.is_not(None))
        .values(client_address=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPackage:
    """A package whose ZIP is still in the archive store, with what retention decides on."""

    package_id: str
    case_id: str
    uri: str
    closed_at: dt.datetime | None
    held: bool


def stored_packages(session: Session) -> list[StoredPackage]:
    """Every package whose ZIP has not been deleted, with its case's closing and legal hold."""
    statement = (
        select(AnswerPackage.id, AnswerPackage.case_id, AnswerPackage.uri, Case.closed_at, Case.legal_hold_since)
        .join(Case, Case.id == AnswerPackage.case_id)
        .where(AnswerPackage.uri.is_not(None), AnswerPackage.deleted_at.is_(None))
        .order_by(AnswerPackage.requested_at, AnswerPackage.id)
    )
    return [
        StoredPackage(package_id, case_id, uri or "", closed_at, held is not None)
        for package_id, case_id, uri, closed_at, held in session.execute(statement)
    ]


def record_package_deletion(
    session: Session, package_id: str, *, versions: str, actor: str, policy: str, at: dt.datetime
) -> AnswerPackage | None:
    """The package's deletion receipt; the package that counted is ``deleted`` and its links stop at once."""
    package = find_package(session, package_id, for_update=True)
    if package is None or package.deleted_at is not None:
        return None
    package.deleted_at, package.deleted_by, package.deletion_policy = at, actor[:64], policy
    package.deleted_versions = versions
    if package.state != REPLACED:
        package.state = DELETED
    revoke_links_of(session, [package.id], at=at, by=actor[:64], reason=REVOKED_DELETED)
    return package


def expired_unused_links(session: Session, *, now: dt.datetime) -> list[tuple[AnswerLink, Case]]:
    """Links that expired without one complete download, not noted yet, of cases no link was downloaded on."""
    downloaded = select(AnswerLink.case_id).where(AnswerLink.first_complete_at.is_not(None))
    statement = (
        select(AnswerLink, Case)
        .join(Case, Case.id == AnswerLink.case_id)
        .where(
            AnswerLink.expires_at <= now,
            AnswerLink.revoked_at.is_(None),
            AnswerLink.complete_downloads == 0,
            AnswerLink.expiry_noted_at.is_(None),
            AnswerLink.case_id.not_in(downloaded),
        )
        .order_by(AnswerLink.expires_at, AnswerLink.id)
    )
    return [(link, case) for link, case in session.execute(statement)]
