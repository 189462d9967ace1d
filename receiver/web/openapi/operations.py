"""What each endpoint of the API is, in the contract's words: one ``Operation`` per Flask endpoint.

The document (``receiver.web.openapi.document``) walks the app's URL map and
describes every rule through the operation its endpoint names here; the paths and
path parameters come from the rules themselves, the bodies, query parameters and
answers from the pydantic models that validate and shape them. Answers that follow
from an operation's shape are added by the document and need not be listed: 401 and
403 for a token, 400/413/415 for a JSON body, 400 for query or path parameters, 404
for a path naming a record, 503 for the database. ``tests/receiver/web/openapi``
fails for an endpoint missing here, and for an answer the service gives that an
operation does not list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from receiver.usecases import answers, documents
from receiver.usecases.operators import ACT, EXPORT, METRICS, READ

#: No token: the callback endpoint (it has its signatures), the probes and the contract itself.
PUBLIC = "public"
#: Pages for people in a browser (the console under /ops, the home page leading to it, static files): not the API.
BROWSER_PAGES = re.compile(r"/(?:ops(?:/.*)?|static/.*|answer/.*)?")


Models = tuple[type[BaseModel], ...]


@dataclass(frozen=True)
class Reply:
    """One answer of an operation: a JSON body of one of ``models`` (MessageBird's error shape unless told), other
    ``content`` besides or instead, and the headers it carries."""

    description: str
    models: Models = (answers.ErrorAnswer,)
    content: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Header:
    """A request header an operation reads."""

    name: str
    description: str


@dataclass(frozen=True)
class Operation:
    """An endpoint: who may call it (``PUBLIC`` or a permission), what it takes, what it answers."""

    summary: str
    tag: str
    access: str
    replies: Mapping[int, Reply]
    description: str = ""
    body: type[BaseModel] | None = None
    query: type[documents.Query] | None = None
    headers: tuple[Header, ...] = ()
    #: Reads or writes the database, so 503 when it is unavailable.
    storage: bool = True
    #: The path names a record, so 404 when there is none.
    finds: bool = True
    #: The path parameter the ``id`` of its 201 answer fills: the document links the operations that take it.
    creates: str | None = None


RETRY_AFTER = "Retry-After"
CONTENT_DIGEST = "Content-Digest"
REQUEST_ID, CASE_ID = "requestId", "caseId"
ZIP: dict[str, dict[str, Any]] = {"application/zip": {}}
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}
ANY_OBJECT = {"application/json": {"schema": {"type": "object"}}}

_NOT_FOUND_CASE = Reply("No case with this id")
_CLOSED_CASE = Reply(
    "The case is closed, or its deadline's state does not allow the change (`already_extended`, "
    "`first_deadline_passed`, `already_paused`, `not_paused`, `pause_after_deadline`, ...)"
)


def _sending(what: str, *, in_case: bool) -> dict[int, Reply]:
    """The answers of a send to a provider: recorded, pending, refused, or never answered."""
    case = "the case in the path" if in_case else "`caseId`"
    return {
        201: Reply(f"Sent to {what} and recorded", (answers.SentRequest,)),
        202: Reply(
            "Sent, but recording the answer failed: the intent is kept and reconciliation resolves it "
            "(do not send it again)",
            (answers.RecordingPending,),
        ),
        404: Reply(f"No case named by {case}"),
        409: Reply(f"{case} names a closed case, or the provider's id is already registered"),
        422: Reply(f"{what} refused the request: its own error code and description"),
        502: Reply(
            f"{what} refused our credentials (configuration error), or answered in an undocumented way "
            "(then `request` is the intent kept)",
            (answers.ErrorAnswer, answers.OutcomeUnknown),
        ),
        503: Reply(
            f"The database, or {what}, is unavailable (after retries; `Retry-After` when it said so), or "
            f"{what} is not configured",
            headers=(RETRY_AFTER,),
        ),
        504: Reply(
            f"{what} did not answer: it may have created the request; `request` is the intent kept, which "
            "reconciliation resolves (do not send it again)",
            (answers.OutcomeUnknown,),
        ),
    }


def _case_change(summary: str, body: type[BaseModel], description: str) -> Operation:
    return Operation(
        summary,
        "cases",
        ACT,
        {200: Reply("The case after the change", (answers.CaseDetail,)), 404: _NOT_FOUND_CASE, 409: _CLOSED_CASE},
        description=description,
        body=body,
    )


_CALLBACK_DESCRIPTION = """\
MessageBird calls this when a Personal Data request is done (`callback.http` of the request). It is
documented here as a path, not under OpenAPI's `webhooks`: those describe calls the API makes to its
consumers, and this one is made to the service by MessageBird.

No bearer token: the delivery proves itself with its signatures. `MessageBird-Signature-JWT` (HS256 by
default, signed with `MESSAGEBIRD_SIGNING_KEY`; `url_hash` over the URL under `PUBLIC_URL`, `payload_hash`
over the body) and `X-MessageBird-Signature` (`t=<unix>,v1=<hex>`: HMAC-SHA256 of `<t>.<body>` with the
request's `signatureKey`). `SIGNATURE_POLICY=any` needs one present and every present one valid; `both`
needs both. Every refusal is counted and sampled (`GET /api/deliveries/refused`), never stored with its
content; an address refused more than `REFUSAL_RATE_LIMIT` times is answered 429 before its body is read."""

OPERATIONS: dict[str, Operation] = {
    "webhooks.messagebird_personal_data": Operation(
        "Receive MessageBird's signed Personal Data callback",
        "callbacks",
        PUBLIC,
        {
            200: Reply(
                "Verified and recorded (`accepted`), or a repeat that changed nothing (`duplicate`)",
                (answers.CallbackAnswer,),
            ),
            400: Reply("Not JSON, not an object, `requestId` or `requestKind` missing or not strings"),
            401: Reply("A signature failed or none was sent: the same answer whether or not `requestId` exists"),
            404: Reply("Unknown `requestId`, answered only once a JWT verified"),
            409: Reply("`requestKind` differs from the registered request's kind"),
            413: Reply("Body over `MAX_CALLBACK_BYTES`, refused before it is read"),
            429: Reply(
                "This address was refused more than `REFUSAL_RATE_LIMIT` times: retry after `Retry-After` s",
                headers=(RETRY_AFTER,),
            ),
            503: Reply("The database or the replay cache is unavailable: MessageBird retries"),
        },
        description=_CALLBACK_DESCRIPTION,
        body=documents.CallbackBody,
        finds=False,
        headers=(
            Header(
                "MessageBird-Signature-JWT",
                "The JWT MessageBird signs each delivery with (`iss` MessageBird, "
                "`nbf`, `exp`, `jti`, `url_hash`, `payload_hash`)",
            ),
            Header(
                "X-MessageBird-Signature",
                "`t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>` under the request's signatureKey",
            ),
        ),
    ),
    "admin.import_request": Operation(
        "Register a MessageBird request created elsewhere",
        "requests",
        ACT,
        {
            201: Reply("Registered", (answers.RequestRecord,)),
            404: Reply("No case named by `caseId`"),
            409: Reply("This id is already registered, or `caseId` names a closed case"),
        },
        description="Its `signatureKey` is stored sealed and never shown again; the callback is verified with it.",
        body=documents.ImportRequestDocument,
        finds=False,
        creates=REQUEST_ID,
    ),
    "admin.create_request": Operation(
        "Send a Personal Data request to MessageBird",
        "requests",
        ACT,
        _sending("MessageBird", in_case=False),
        description="The intent is recorded before anything is sent. `value` is sent and never kept: the record "
        "holds its keyed hash. `field` and `value` are required for `KIND_PERSONAL_*` and must be "
        "absent for `KIND_USER_*`.",
        body=documents.MessageBirdRequestDocument,
        finds=False,
        creates=REQUEST_ID,
    ),
    "admin.forget_number": Operation(
        "Send a forget request for a UK number to VoodooSMS",
        "requests",
        ACT,
        _sending("VoodooSMS", in_case=False),
        description="The worker then polls VoodooSMS's status until the number is removed.",
        body=documents.ForgetDocument,
        finds=False,
        creates=REQUEST_ID,
    ),
    "admin.list_requests": Operation(
        "List requests, newest first",
        "requests",
        READ,
        {200: Reply("A page of requests", (answers.RequestPage,))},
        query=documents.RequestQuery,
        finds=False,
    ),
    "admin.show_request": Operation(
        "Show a request in full: transitions, events, callbacks, archive",
        "requests",
        READ,
        {
            200: Reply("The record (by its id or its intent's id)", (answers.RequestDetail,)),
            404: Reply("No request with this id"),
        },
    ),
    "admin.retry_request": Operation(
        "Queue a failed archive download again",
        "requests",
        ACT,
        {
            202: Reply("Queued: the request is `callback_received` again", (answers.RequestRecord,)),
            404: Reply("No request with this id"),
            409: Reply(
                "The request is not failed, has no download to retry, or its archive URL expired and "
                "MessageBird's listing gives no new one"
            ),
        },
        description="From a new archive URL out of MessageBird's listing when the stored one was refused as "
        "expired or gone (HTTP 401, 403, 404, 410).",
    ),
    "admin.download_archive": Operation(
        "Download a request's archive (audited)",
        "requests",
        EXPORT,
        {
            200: Reply("A presigned URL (S3), or the ZIP itself (file store)", (answers.ArchiveLink,), content=ZIP),
            404: Reply("No request with this id, or no archive stored for it"),
        },
        description="Recorded first as an `archive_downloaded` event of the request, naming the operator.",
    ),
    "cases.open_case": Operation(
        "Open a case: one data subject request and its deadline",
        "cases",
        ACT,
        {201: Reply("The case with its deadline explained", (answers.CaseDetail,))},
        body=documents.CaseDocument,
        finds=False,
        creates=CASE_ID,
    ),
    "cases.list_cases": Operation(
        "List cases, most urgent first",
        "cases",
        READ,
        {200: Reply("A page of cases", (answers.CasePage,))},
        description="Overdue cases first, then running ones by due date, then those whose clock is stopped, then "
        "closed ones.",
        query=documents.CaseQuery,
        finds=False,
    ),
    "cases.show_case": Operation(
        "Show a case: its requests with their targets, the deadline explained, its history",
        "cases",
        READ,
        {200: Reply("The case", (answers.CaseDetail,)), 404: _NOT_FOUND_CASE},
    ),
    "cases.extend": _case_change(
        "Extend the deadline by two further months",
        documents.ExtendDocument,
        "Once, before the first deadline passed, the data subject told (GDPR Art. 12(3)).",
    ),
    "cases.pause": _case_change(
        "Stop the clock", documents.PauseDocument, "While information is asked of the data subject (UK GDPR Art. 12A)."
    ),
    "cases.resume": _case_change(
        "Restart the clock", documents.ResumeDocument, "The deadline moves by the days the clock was stopped."
    ),
    "cases.close": _case_change(
        "Record the answer sent to the data subject",
        documents.CloseDocument,
        "Every request must have ended, unless `overrideReason` says why not.",
    ),
    "cases.evidence_pack": Operation(
        "Export a case's evidence pack (audited)",
        "cases",
        EXPORT,
        {
            200: Reply(
                "A ZIP of evidence.json (the case, its deadline history, each request with its transitions, "
                "callbacks with both schemes' verdicts, the archive and its deletion receipt, the actors), "
                "evidence.html (the same as one printable page, with the verdict and how to check the pack), "
                "chain.json (the case's audit chain entries with their audit paths to an anchored head, "
                "anchor.json and anchor.tsr, check_chain.py), manifest.json (the SHA-256 of each) and "
                "manifest.json.tsr (an RFC 3161 time-stamp over the manifest; NOT-TIME-STAMPED.txt when none)",
                (),
                content=ZIP,
                headers=(CONTENT_DIGEST,),
            ),
            404: _NOT_FOUND_CASE,
        },
        description="The pack's SHA-256 is recorded first in the case's history (`evidence_exported`, naming the "
        "operator) and sent as `Content-Digest: sha-256=:<base64>:` (RFC 9530), so a later altered "
        "copy can be told apart. The same data gives the same bytes.",
    ),
    "legal_holds.show": Operation(
        "Show a case's legal hold and where each of its archives stands",
        "cases",
        READ,
        {
            200: Reply("The hold (null when none) and the case's archives", (answers.LegalHoldView,)),
            404: _NOT_FOUND_CASE,
        },
    ),
    "legal_holds.place": Operation(
        "Place a legal hold: no archive of the case is deleted while it lasts",
        "cases",
        ACT,
        {
            200: Reply("The hold and the case's archives", (answers.LegalHoldView,)),
            404: _NOT_FOUND_CASE,
            409: Reply("The case is held already"),
        },
        description="GDPR Art. 17(3)(e): data needed for legal claims is kept. An entry in the case's history "
        "names the operator.",
        body=documents.LegalHoldDocument,
    ),
    "legal_holds.release": Operation(
        "Release a case's legal hold; the retention policy applies again",
        "cases",
        ACT,
        {
            200: Reply("The case's archives, no longer held", (answers.LegalHoldView,)),
            404: _NOT_FOUND_CASE,
            409: Reply("No hold is placed on the case"),
        },
        description='The body is optional: `{"reason": ...}` says why the hold ends.',
        body=documents.ReleaseHoldDocument,
    ),
    "packages.show_package": Operation(
        "Show the subject's package: its state, files, links and their downloads",
        "answers",
        READ,
        {
            200: Reply(
                "The package that counts (state `none` before one is asked for), each link (never its secret) "
                "with its downloads, and the closing it proposes once the subject downloaded it",
                (answers.PackageRecord,),
            ),
            404: _NOT_FOUND_CASE,
        },
    ),
    "packages.build_package": Operation(
        "Build the subject's package (again) from the case's archives",
        "answers",
        ACT,
        {
            202: Reply(
                "The package, `building`: a worker job streams it into the archive store", (answers.PackageRecord,)
            ),
            404: _NOT_FOUND_CASE,
            409: Reply(
                "It cannot be built now: `package_building`, `requests_not_ended`, `nothing_to_package`, "
                "`controller_not_configured` (CONTROLLER_NAME, CONTROLLER_CONTACT)"
            ),
        },
        description="Access and portability: every stored archive, byte for byte, with index.html and index.json; "
        "the other rights: a confirmation letter (confirmation.html, confirmation.json). A new build replaces the "
        "package before it and revokes its links; the case's history says so (`package_built`).",
    ),
    "packages.create_link": Operation(
        "Make a link that hands the package to its subject",
        "answers",
        ACT,
        {
            201: Reply("The link: `url` holds its secret, shown this once and never stored", (answers.CreatedLink,)),
            404: _NOT_FOUND_CASE,
            409: Reply(
                "No package is ready (`package_not_ready`), or e-mail is not configured (`email_not_configured`)"
            ),
        },
        description="With `email`, a job e-mails the link (plain text and HTML, in `language`) from "
        "SUBJECT_EMAIL_FROM through SMTP_URL; only a keyed hash of the address is kept.",
        body=documents.LinkDocument,
    ),
    "packages.revoke_link": Operation(
        "Revoke a link at once",
        "answers",
        ACT,
        {
            200: Reply("The package, its links and downloads", (answers.PackageRecord,)),
            404: Reply("No such link in the case"),
        },
    ),
    "cases.send_request": Operation(
        "Send a MessageBird request as part of the case",
        "cases",
        ACT,
        _sending("MessageBird", in_case=True),
        description="The document of `POST /api/requests`; the case's `subjectRef` unless it has its own.",
        body=documents.MessageBirdRequestDocument,
        creates=REQUEST_ID,
    ),
    "cases.forget_number": Operation(
        "Send a VoodooSMS forget request as part of the case",
        "cases",
        ACT,
        _sending("VoodooSMS", in_case=True),
        description="The document of `POST /api/forget`; the case's `subjectRef` unless it has its own.",
        body=documents.ForgetDocument,
        creates=REQUEST_ID,
    ),
    "refusals.refused": Operation(
        "The sampled refused callback deliveries",
        "callbacks",
        READ,
        {200: Reply("Newest first, within `REFUSAL_SAMPLE_RETENTION_DAYS`", (answers.RefusedPage,))},
        query=documents.RefusedQuery,
        finds=False,
    ),
    "health.healthz": Operation(
        "Liveness: the process serves (touches no backend)",
        "service",
        PUBLIC,
        {200: Reply("Alive", (answers.Health,))},
        storage=False,
        finds=False,
    ),
    "health.readyz": Operation(
        "Readiness: every backend answers",
        "service",
        PUBLIC,
        {
            200: Reply("Every backend answered", (answers.Readiness,)),
            503: Reply("A backend is down or did not answer in time: `checks` names it", (answers.Readiness,)),
        },
        storage=False,
        finds=False,
    ),
    "metrics.metrics": Operation(
        "Prometheus metrics",
        "service",
        METRICS,
        {200: Reply("Prometheus' text exposition format", (), content=PLAIN_TEXT)},
        finds=False,
    ),
    "openapi.document": Operation(
        "This document",
        "service",
        PUBLIC,
        {200: Reply("The OpenAPI 3.1 document", (), content=ANY_OBJECT)},
        description="Open to anyone, like the README: it names the endpoints and their shapes, never a secret.",
        storage=False,
        finds=False,
    ),
}
