"""The subject's package: what it holds, asked for by an operator, built by a job, shown to ops.

``request_package`` (``POST /api/cases/<id>/package``) records a package ``building``
and queues the ``answer_package`` job (``receiver.jobs.answer_package``), which streams
the ZIP ``package_contents`` describes into the archive store. What the package holds
follows the right the subject exercised:

- ``access`` (GDPR Art. 15(3): a copy of the data) and ``portability`` (Art. 20: in a
  machine-readable format): every stored archive of the case's requests, byte for byte,
  named ``<processor>-<kind>-<requestId>.zip``, with ``index.html`` for a person and
  ``index.json`` for a machine (for portability, ``index.json`` first);
- ``erasure``, ``rectification``, ``restriction``, ``objection``: no data, a letter
  (``confirmation.html`` and ``confirmation.json``) listing each processor's verified
  completion: what it was asked and when its signed callback (or status) said done.

Both name the Controller (``CONTROLLER_NAME``) and whom to contact (``CONTROLLER_CONTACT``),
which must be set before a package is built. ``package_view`` answers
``GET /api/cases/<id>/package``: the package's state, files, size and SHA-256, its links
and their downloads, and, once the subject has downloaded it, the closing it proposes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy.orm import Session

from receiver.services import Services
from receiver.usecases import subject_texts
from receiver.usecases.answers import (
    AnswerDownloadRecord,
    AnswerLinkRecord,
    ClosingProposal,
    PackageFileRecord,
    PackageReceipt,
    PackageRecord,
    iso_time,
)
from receiver.usecases.errors import UseCaseError
from storage import answers, case_registry, jobs, lifecycle
from storage.archives.base import ArchiveStore
from storage.archives.zipwriter import Entry
from storage.models import AnswerDownload, AnswerLink, AnswerPackage, Case, Job, ProcessorRequest

ANSWER_PACKAGE = "answer_package"  #: the job kind that builds a package
PACKAGE_BUILT = "package_built"  #: the case's history entry of a package built
PACKAGE_REQUESTED = "package_requested"

DATA_RIGHTS = frozenset({"access", "portability"})
DELIVERED_BY_LINK = "download link"
INDEX_HTML, INDEX_JSON = "index.html", "index.json"
CONFIRMATION_HTML, CONFIRMATION_JSON = "confirmation.html", "confirmation.json"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def request_package(services: Services, case_id: str, *, actor: str) -> PackageRecord:
    """Record a new package of the case ``building`` and queue its job; the package as ``package_view`` shows it."""
    settings = services.settings
    if not (settings.controller_name and settings.controller_contact):
        raise UseCaseError(
            "conflict",
            "CONTROLLER_NAME and CONTROLLER_CONTACT must be set: the package says who sends it and whom to contact",
            reason="controller_not_configured",
        )
    with services.database.transaction() as session:
        case = case_registry.find(session, case_id, for_update=True)
        if case is None:
            raise UseCaseError("not_found", "no case with this id")
        _refuse_unless_buildable(session, case)
        content = answers.ARCHIVES if case.right in DATA_RIGHTS else answers.CONFIRMATION
        package_id = answers.new_package_id()
        job = jobs.enqueue(
            session,
            kind=ANSWER_PACKAGE,
            request_id=None,
            payload_sealed=services.secrets.seal(json.dumps({"packageId": package_id})),
        )
        answers.add_package(session, package_id, case_id=case_id, content=content, actor=actor, job_id=job.id)
        case_registry.record_event(case, actor=actor, kind=PACKAGE_REQUESTED, changed="package", to_value=package_id)
        session.flush()
    return package_view(services, case_id)


def _refuse_unless_buildable(session: Session, case: Case) -> None:
    current = answers.current_package(session, case.id)
    if current is not None and _state_of(session, current) == answers.BUILDING:
        raise UseCaseError("conflict", "a package of this case is being built", reason="package_building")
    requests = case_registry.requests_of(session, case.id)
    running = [request.id for request in requests if request.state not in case_registry.ENDED_STATES]
    if running:
        raise UseCaseError(
            "conflict",
            f"{len(running)} processor request(s) have not ended ({', '.join(running[:5])})",
            reason="requests_not_ended",
        )
    wanted = _archived if case.right in DATA_RIGHTS else _completed
    if not any(wanted(request) for request in requests):
        what = "no stored archive" if case.right in DATA_RIGHTS else "no completed processor request"
        raise UseCaseError("conflict", f"the case has {what} to answer with", reason="nothing_to_package")


def _archived(request: ProcessorRequest) -> bool:
    return bool(request.archive_uri and request.archive_sha256 and request.archive_deleted_at is None)


def _completed(request: ProcessorRequest) -> bool:
    return request.state == lifecycle.COMPLETED


# -- what the package holds ------------------------------------------------------------------


@dataclass(frozen=True)
class Contents:
    """A package's entries (in order) and the files the record lists."""

    entries: list[Entry]
    files: list[answers.PackageFile]


def archive_name(request: ProcessorRequest) -> str:
    """``<processor>-<kind>-<requestId>.zip``, with anything a file name should not hold replaced."""
    return _UNSAFE_NAME.sub("_", f"{request.provider}-{request.kind}-{request.id}")[:200] + ".zip"


def package_contents(
    case: Case,
    requests: Sequence[ProcessorRequest],
    *,
    store: ArchiveStore,
    controller: tuple[str, str],
    language: str,
    built_at: dt.datetime,
) -> Contents:
    """The entries of the case's package and the files it lists (see the module's docstring)."""
    if case.right not in DATA_RIGHTS:
        return _confirmation(case, requests, controller=controller, language=language, built_at=built_at)
    archived = [request for request in requests if _archived(request)]
    document = _index_document(case, requests, controller=controller, built_at=built_at)
    index_json = _json_bytes(document)
    index_html = subject_texts.render(INDEX_HTML, language, doc=document).encode()
    texts = [Entry(INDEX_JSON, index_json), Entry(INDEX_HTML, index_html)]
    if case.right == "access":
        texts.reverse()
    archives = [
        Entry(
            archive_name(request),
            open=_opener(store, request.archive_uri or ""),
            size=request.archive_bytes,
            sha256=request.archive_sha256,
            compress=False,
        )
        for request in archived
    ]
    files = [_text_file(entry) for entry in texts] + [
        answers.PackageFile(archive_name(request), request.id, request.archive_bytes or 0, request.archive_sha256 or "")
        for request in archived
    ]
    return Contents(texts + archives, files)


def _opener(store: ArchiveStore, uri: str) -> Callable[[], Any]:
    return lambda: store.open(uri)


def _text_file(entry: Entry) -> answers.PackageFile:
    data = entry.data or b""
    return answers.PackageFile(entry.name, None, len(data), hashlib.sha256(data).hexdigest())


def _json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def _case_part(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "reference": case.subject_ref,
        "right": case.right,
        "receivedOn": case.received_on.isoformat(),
    }


def _index_document(
    case: Case, requests: Sequence[ProcessorRequest], *, controller: tuple[str, str], built_at: dt.datetime
) -> dict[str, Any]:
    processors = []
    for request in requests:
        stored = _archived(request)
        processors.append(
            {
                "processor": request.provider,
                "requestId": request.id,
                "kind": request.kind,
                "asked": subject_texts.ASKED.get(request.kind, request.kind),
                "state": request.state,
                "answeredAt": iso_time(request.completed_at or request.callback_received_at),
                "file": archive_name(request) if stored else None,
                "bytes": request.archive_bytes if stored else None,
                "sha256": request.archive_sha256 if stored else None,
            }
        )
    return {
        "format": "gdpr-answer-package/1",
        "controller": {"name": controller[0], "contact": controller[1]},
        "case": _case_part(case),
        "builtAt": iso_time(built_at),
        "processors": processors,
    }


def _confirmation(
    case: Case,
    requests: Sequence[ProcessorRequest],
    *,
    controller: tuple[str, str],
    language: str,
    built_at: dt.datetime,
) -> Contents:
    document = {
        "format": "gdpr-confirmation/1",
        "controller": {"name": controller[0], "contact": controller[1]},
        "case": _case_part(case),
        "builtAt": iso_time(built_at),
        "completions": [_completion(request) for request in requests],
    }
    entries = [
        Entry(CONFIRMATION_HTML, subject_texts.render(CONFIRMATION_HTML, language, doc=document).encode()),
        Entry(CONFIRMATION_JSON, _json_bytes(document)),
    ]
    return Contents(entries, [_text_file(entry) for entry in entries])


def _completion(request: ProcessorRequest) -> dict[str, Any]:
    done = request.state == lifecycle.COMPLETED
    if not done:
        evidence = subject_texts.N_("the processor did not confirm it")
    elif request.authorising_callback_id is not None:
        evidence = subject_texts.N_("its signed callback, verified")
    else:
        evidence = subject_texts.N_("its status, as the processor reported it")
    return {
        "processor": request.provider,
        "requestId": request.id,
        "kind": request.kind,
        "asked": subject_texts.ASKED.get(request.kind, request.kind),
        "completedAt": iso_time(request.completed_at) if done else None,
        "evidence": evidence,
    }


# -- what ops see ----------------------------------------------------------------------------


def _state_of(session: Session, package: AnswerPackage) -> str:
    """The package's state; one whose job was given up is ``failed`` (the job's reason says why)."""
    if package.state == answers.BUILDING and package.job_id is not None:
        job = session.get(Job, package.job_id)
        if job is None or job.state in (jobs.FAILED, jobs.DONE):  # given up, or ended without it (and purged)
            return answers.FAILED
    return package.state


def package_view(services: Services, case_id: str) -> PackageRecord:
    """``GET /api/cases/<id>/package``: the package that counts, its links and their downloads."""
    with services.database.transaction() as session:
        case = case_registry.find(session, case_id)
        if case is None:
            raise UseCaseError("not_found", "no case with this id")
        package = answers.current_package(session, case_id)
        links = answers.links_of_case(session, case_id)
        downloads = answers.downloads_of(session, [link.id for link in links])
        if package is None:
            now = services.clock.now()
            return PackageRecord.model_construct(
                state="none", links=[_link_record(link, downloads[link.id], now) for link in links]
            )
        return _package_record(session, package, links, downloads, now=services.clock.now())


PackageState = Literal["building", "ready", "failed", "deleted"]


def _package_record(
    session: Session,
    package: AnswerPackage,
    links: Sequence[AnswerLink],
    downloads: dict[str, list[AnswerDownload]],
    *,
    now: dt.datetime,
) -> PackageRecord:
    state = _state_of(session, package)
    failure = package.failure
    if state == answers.FAILED and failure is None and package.job_id is not None:
        job = session.get(Job, package.job_id)
        failure = job.last_error if job is not None else None
    return PackageRecord.model_construct(
        state=cast(PackageState, state),
        id=package.id,
        content=cast(Literal["archives", "confirmation"], package.content),
        size=package.size,
        sha256=package.sha256,
        files=[_file_record(file) for file in answers.files_of(package)],
        requested_at=iso_time(package.requested_at),
        requested_by=package.requested_by,
        built_at=iso_time(package.built_at),
        failure=failure,
        deletion_receipt=_receipt(package),
        links=[_link_record(link, downloads[link.id], now) for link in links],
        closing_proposal=closing_proposal(links),
    )


def _file_record(file: answers.PackageFile) -> PackageFileRecord:
    return PackageFileRecord.model_construct(
        name=file.name, request_id=file.request_id, size=file.size, sha256=file.sha256
    )


def _receipt(package: AnswerPackage) -> PackageReceipt | None:
    if package.deleted_at is None:
        return None
    return PackageReceipt.model_construct(
        deleted_at=iso_time(package.deleted_at),
        deleted_by=package.deleted_by,
        policy=package.deletion_policy,
        uri=package.uri,
        versions=json.loads(package.deleted_versions or "[]"),
        size=package.size,
        sha256=package.sha256,
    )


LinkState = Literal["active", "revoked", "expired", "used_up"]


def link_state(link: AnswerLink, now: dt.datetime) -> LinkState:
    """``active``, ``revoked``, ``expired`` or ``used_up`` (``maxDownloads`` complete downloads made)."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    if link.complete_downloads >= link.max_downloads:
        return "used_up"
    return "active"


def _link_record(link: AnswerLink, downloads: Sequence[AnswerDownload], now: dt.datetime) -> AnswerLinkRecord:
    return AnswerLinkRecord.model_construct(
        id=link.id,
        package_id=link.package_id,
        state=link_state(link, now),
        created_at=iso_time(link.created_at),
        created_by=link.created_by,
        expires_at=iso_time(link.expires_at),
        max_downloads=link.max_downloads,
        complete_downloads=link.complete_downloads,
        language=link.language,
        emailed=link.email_hash is not None,
        email_sent_at=iso_time(link.email_sent_at),
        revoked_at=iso_time(link.revoked_at),
        revoked_by=link.revoked_by,
        revoked_reason=link.revoked_reason,
        downloads=[
            AnswerDownloadRecord.model_construct(
                at=iso_time(download.at),
                first_byte=download.first_byte,
                bytes_sent=download.bytes_sent,
                complete=download.complete,
                package_sha256=download.package_sha256,
            )
            for download in downloads
        ],
    )


def closing_proposal(links: Sequence[AnswerLink]) -> ClosingProposal | None:
    """Once the subject has downloaded the answer: close it as given on the day its link was sent (GDPR Art. 12(3):
    the information was provided then), by ``download link``; the first complete download is the proof it arrived."""
    downloaded = [(link.first_complete_at, link) for link in links if link.first_complete_at is not None]
    if not downloaded:
        return None
    downloaded_at, first = min(downloaded, key=lambda pair: pair[0])
    sent = first.email_sent_at or first.created_at
    return ClosingProposal.model_construct(
        responded_on=sent.date().isoformat(),
        delivered_by=DELIVERED_BY_LINK,
        downloaded_at=iso_time(downloaded_at),
        link_id=first.id,
    )
