"""The evidence pack of a case, assembled without I/O: its JSON, its printable page, its manifest, its ZIP.

``evidence_document`` takes what the database holds (a ``CaseView`` from
``case_views``, the case's requests, their callbacks, the operators' roles) and
answers the document ``evidence.json`` holds, in the API's own field names; the
timeline and the verdict are derived from that document alone, so the page
(``evidence.html``) says nothing the JSON does not. ``pack_files`` adds the case's
audit chain entries (``chain.json``: each covered row's last sealed entry, its
encoding, and its audit path in the tree of the anchor, ``anchor.json`` with the
authority's reply ``anchor.tsr``; ``check_chain.py`` checks the paths with Python's
standard library) and ``manifest.json`` (each file's SHA-256); ``zip_pack`` zips them
with fixed entry times and order and sorted keys. The caller adds ``manifest.json.tsr``,
the authority's time-stamp over the manifest's bytes, or ``NOT-TIME-STAMPED.txt``.

Never in a pack: a personal data value (a request says only whether a keyed hash
of it is held), a signature key, a callback's raw inputs or archive URL, the
archive itself. An export's own history entry (``evidence_exported``) is kept
out too: it records the pack, and re-exporting an unchanged case gives the same
pack, with the same SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from deadlines import days_left
from receiver.usecases import records
from receiver.usecases.answers import iso_time
from receiver.usecases.case_views import CaseView, case_summary, deadline_record, event_record, request_names
from storage.anchors import Anchor
from storage.audit_chain import CaseEntry
from storage.models import Callback, ProcessorRequest

FORMAT = "gdpr-evidence-pack/1"
EVIDENCE_EXPORTED = "evidence_exported"
JSON_NAME, HTML_NAME, MANIFEST_NAME = "evidence.json", "evidence.html", "manifest.json"
CHAIN_NAME, CHECK_NAME, CA_NAME = "chain.json", "check_chain.py", "tsa-ca.pem"
ANCHOR_NAME, ANCHOR_REPLY_NAME = "anchor.json", "anchor.tsr"
STAMP_NAME, NOT_STAMPED_NAME = "manifest.json.tsr", "NOT-TIME-STAMPED.txt"
CHAIN_FORMAT = "gdpr-evidence-chain/1"
#: Every entry's time in the ZIP (the format's earliest), so the same data gives the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Who an actor is when no API token bears the name.
_KNOWN_ACTORS = {"admin": "operator (ADMIN_TOKEN)", "service": "the service itself"}
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
#: A time as a person reads it, to the second (``evidence.json`` keeps the microseconds); a date as it is.
_TEMPLATES.filters["when"] = lambda at: at[:19].replace("T", " ") if at and "T" in at else (at or "")


@dataclass(frozen=True)
class Pack:
    """An evidence pack: the ZIP's bytes and their SHA-256 (hex), and whether its manifest is time-stamped."""

    data: bytes
    sha256: str
    time_stamped: bool = False


@dataclass(frozen=True)
class ChainExcerpt:
    """The case's chain entries, the anchor their audit paths lead to (none: not anchored), the TSA's CA."""

    entries: Sequence[CaseEntry]
    anchor: Anchor | None
    proofs: Mapping[int, Sequence[str]]
    ca_pem: bytes | None = None
    #: Why there is no anchor, when there is none.
    unanchored: str | None = None


# -- the document ----------------------------------------------------------------------------


def evidence_document(
    view: CaseView,
    requests: Sequence[ProcessorRequest],
    callbacks: Mapping[str, Sequence[Callback]],
    roles: Mapping[str, str],
) -> dict[str, Any]:
    """``evidence.json``: the case, its history, its requests with all that happened to them, timeline, verdict."""
    names = request_names(requests)
    history = [event_record(e, names).as_json() for e in view.case.events if e.kind != EVIDENCE_EXPORTED]
    shown_requests = [_request(view, r, callbacks.get(r.id, ())) for r in requests]
    case = {**case_summary(view).as_json(), "deadline": deadline_record(view.deadline).as_json()}
    document = {
        "format": FORMAT,
        "asOf": view.today.isoformat(),
        "case": case,
        "history": history,
        "requests": shown_requests,
    }
    document["timeline"] = timeline(document)
    document["verdict"] = verdict(view)
    document["actors"] = actors(document, roles)
    return document


def _request(view: CaseView, request: ProcessorRequest, callbacks: Sequence[Callback]) -> dict[str, Any]:
    detail = records.request_detail(request, callbacks).as_json()
    for shown, callback in zip(detail["callbacks"], callbacks, strict=True):
        shown["rawInputsKept"] = callback.raw_inputs_sealed is not None
        shown.pop("remoteAddr")  # the processor's address says nothing of the case, and has its own retention
    detail.update(
        targetOn=view.target_on.isoformat(),
        late=view.is_request_late(request.state),
        archiveDeletion=deletion_receipt(detail["archive"]),
    )
    return detail


def deletion_receipt(archive: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The receipt of the archive's deletion as the API shows it (``archive.deletionReceipt``: when, by whom,
    under which policy, the object, the version ids and what each was, the bytes and SHA-256 measured when it
    was stored); None while the archive is kept."""
    return (archive or {}).get("deletionReceipt")


# -- the timeline ----------------------------------------------------------------------------


def timeline(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A case's life in time order, from the document alone: ``at`` (a time, or a date), ``kind``, ``label``."""
    entries = [*_case_entries(document["case"], document["history"])]
    for request in document["requests"]:
        entries.extend(_request_entries(request))
    return [entry for _, entry in sorted(enumerate(entries), key=lambda item: (_sort_time(item[1]), item[0]))]


def _entry(at: str, kind: str, label: str, request_id: str | None = None, actor: str | None = None) -> dict[str, Any]:
    return {"at": at, "kind": kind, "label": label, "requestId": request_id, "actor": actor}


_HISTORY_LABELS = {
    "opened": lambda e: f"case opened, due {e['to']}",
    "extended": lambda e: f"deadline extended from {e['from']} to {e['to']}: {e['reason']}",
    "paused": lambda e: f"clock stopped: {e['reason']}",
    "resumed": lambda e: f"clock restarted, due {e['to']}",
}


def _case_entries(case: Mapping[str, Any], history: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    yield _entry(case["receivedOn"], "received", "request received from the data subject")
    if case["clockStartsOn"] and case["clockStartsOn"] != case["receivedOn"]:
        yield _entry(case["clockStartsOn"], "clock_started", "clock starts (identity confirmed, fee paid)")
    for event in history:
        if event["kind"] in _HISTORY_LABELS:
            yield _entry(event["at"], event["kind"], _HISTORY_LABELS[event["kind"]](event), actor=event["actor"])
    if case["extended"]:
        yield _entry(case["originalDueOn"], "first_deadline", f"first deadline {case['originalDueOn']}")
    yield _entry(case["dueOn"], "deadline", f"deadline {case['dueOn']}")
    if case["respondedOn"]:
        yield _entry(
            case["respondedOn"],
            "answer_sent",
            f"answer sent to the data subject ({case['deliveredBy']})",
            actor=case["closedBy"],
        )


def _request_entries(request: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    request_id, name = request["id"], f"{request['provider']} {request['kind']}"
    sender = request["transitions"][0]["actor"] if request["transitions"] else None
    yield _entry(request["createdAt"], "request_sent", f"{name} request sent", request_id, sender)
    for callback in request["callbacks"]:
        if callback["verdict"] == "accepted":
            schemes = f"JWT {callback['jwt']['verdict']}, HMAC {callback['hmac']['verdict']}"
            yield _entry(
                callback["receivedAt"],
                "callback_verified",
                f"callback {callback['id']} verified: {schemes}",
                request_id,
            )
    archive = request["archive"] or {}
    if archive.get("storedAt"):
        yield _entry(
            archive["storedAt"],
            "archive_stored",
            f"archive stored: {archive['bytes']} bytes, SHA-256 {archive['sha256']}",
            request_id,
        )
    if request["completedAt"]:
        yield _entry(request["completedAt"], "request_completed", f"{name} completed", request_id)
    for transition in request["transitions"]:
        if transition["to"] == "failed":
            yield _entry(transition["at"], "request_failed", f"{name} failed: {transition['reason']}", request_id)
        elif transition["actor"] and transition["from"] not in (None, "sending"):  # ops' doing, such as a retry
            yield _entry(
                transition["at"],
                "request_changed",
                f"{name} moved to {transition['to']} by ops: {transition['reason']}",
                request_id,
                transition["actor"],
            )
    if request["archiveDeletion"]:
        yield _entry(request["archiveDeletion"]["deletedAt"], "archive_deleted", "archive deleted", request_id)


#: Where in its day an entry known only by its date sorts: the receipt first; the answer after all else that day
#: (closing needs every request ended), and a deadline last (it is met by answering on the day itself).
_LATE_IN_THE_DAY = {
    "answer_sent": dt.timedelta(days=1, microseconds=-2),
    "first_deadline": dt.timedelta(days=1, microseconds=-1),
    "deadline": dt.timedelta(days=1, microseconds=-1),
}


def _sort_time(entry: Mapping[str, Any]) -> dt.datetime:
    at = entry["at"]
    if "T" in at:
        return dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    day = dt.datetime.combine(dt.date.fromisoformat(at), dt.time(), dt.UTC)
    return day + _LATE_IN_THE_DAY.get(entry["kind"], dt.timedelta())


# -- the verdict and the actors --------------------------------------------------------------


def verdict(view: CaseView) -> dict[str, Any]:
    """Whether the answer went out within the deadline, or by how much it missed it (or how it stands, if open)."""
    case, due_on = view.case, view.deadline.due_on
    if case.responded_on is not None:
        late = -days_left(due_on, today=case.responded_on)
        text = (
            f"answered within the deadline: answered {case.responded_on}, due {due_on}"
            if late <= 0
            else f"deadline missed by {_days(late)}: answered {case.responded_on}, due {due_on}"
        )
        return {"answered": True, "inTime": late <= 0, "daysLate": max(late, 0), "text": text}
    if case.paused_since is not None:
        text = f"not answered yet: the clock is stopped since {case.paused_since}, due {due_on} as it stood"
    elif view.overdue:
        text = f"not answered yet: the deadline {due_on} is missed by {_days(-days_left(due_on, today=view.today))}"
    else:
        text = f"not answered yet: {_days(days_left(due_on, today=view.today))} left until {due_on}"
    return {"answered": False, "inTime": None, "daysLate": None, "text": text}


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def actors(document: Mapping[str, Any], roles: Mapping[str, str]) -> list[dict[str, Any]]:
    """Everyone who did something in the case, with their role and what they did."""
    done: dict[str, set[str]] = {}

    def did(actor: str | None, what: str) -> None:
        if actor:
            done.setdefault(actor, set()).add(what)

    for event in document["history"]:
        did(event["actor"], f"case: {event['kind'].replace('_', ' ')}")
    for request in document["requests"]:
        for transition in request["transitions"]:
            did(transition["actor"], f"request moved to {transition['to']}")
        for event in request["events"]:
            did(event["actor"], f"request: {event['kind'].replace('_', ' ')}")
    return [{"name": name, "role": _role(name, roles), "did": sorted(what)} for name, what in sorted(done.items())]


def _role(name: str, roles: Mapping[str, str]) -> str | None:
    if name in roles:
        return roles[name]
    if name.startswith("cli:"):
        return "shell (flask command)"
    return _KNOWN_ACTORS.get(name)


# -- the files -------------------------------------------------------------------------------


def render_html(document: Mapping[str, Any], chain: Mapping[str, Any] | None = None) -> str:
    """``evidence.html``: the document for a person, one self-contained printable page (no script, nothing fetched)."""
    return _TEMPLATES.get_template(HTML_NAME).render(doc=document, chain=chain, names=_NAMES)


_NAMES = {
    "json": JSON_NAME,
    "html": HTML_NAME,
    "manifest": MANIFEST_NAME,
    "chain": CHAIN_NAME,
    "check": CHECK_NAME,
    "ca": CA_NAME,
    "anchor": ANCHOR_NAME,
    "anchor_reply": ANCHOR_REPLY_NAME,
    "stamp": STAMP_NAME,
    "not_stamped": NOT_STAMPED_NAME,
}


def chain_document(excerpt: ChainExcerpt) -> dict[str, Any]:
    """``chain.json``: the case's entries with their audit paths, and the anchor they lead to."""
    anchor = excerpt.anchor
    return {
        "format": CHAIN_FORMAT,
        "anchor": None
        if anchor is None
        else {
            "seq": anchor.seq,
            "head": anchor.head_hash,
            "root": anchor.tree_root,
            "stampedAt": iso_time(anchor.stamped_at),
        },
        "unanchored": excerpt.unanchored,
        "entries": [
            {
                "seq": entry.seq,
                "table": entry.source,
                "rowKey": entry.row_key,
                "rowVersion": entry.row_version,
                "rowDigest": entry.row_digest,
                "encoding": entry.encoding,
                "matchesRow": entry.matches_row,
                "proof": list(excerpt.proofs[entry.seq]) if entry.seq in excerpt.proofs else None,
            }
            for entry in excerpt.entries
        ],
    }


def canonical_json(value: Any) -> bytes:
    """Sorted keys, two-space indents, UTF-8: the same value is always the same bytes."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def pack_files(document: Mapping[str, Any], excerpt: ChainExcerpt | None = None) -> dict[str, bytes]:
    """The pack's files, ``manifest.json`` (every other file's SHA-256) last; the same for the same data."""
    chain = chain_document(excerpt) if excerpt is not None else None
    files = {JSON_NAME: canonical_json(document), HTML_NAME: render_html(document, chain).encode()}
    if excerpt is not None and chain is not None:
        files[CHAIN_NAME] = canonical_json(chain)
        files[CHECK_NAME] = (Path(__file__).parent / "templates" / CHECK_NAME).read_bytes()
        if excerpt.anchor is not None:
            files[ANCHOR_NAME], files[ANCHOR_REPLY_NAME] = excerpt.anchor.statement, excerpt.anchor.reply
        if excerpt.ca_pem is not None:
            files[CA_NAME] = excerpt.ca_pem
    manifest = {"files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    files[MANIFEST_NAME] = canonical_json(manifest)
    return files


def pack_zip(document: Mapping[str, Any]) -> Pack:
    """The ZIP of ``evidence.json``, ``evidence.html`` and ``manifest.json`` alone (no chain, no time-stamp)."""
    return zip_pack(pack_files(document))


def zip_pack(files: Mapping[str, bytes]) -> Pack:
    """The files in a ZIP, in their order, each entry at the same fixed time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    data = buffer.getvalue()
    return Pack(data, hashlib.sha256(data).hexdigest(), time_stamped=STAMP_NAME in files)
