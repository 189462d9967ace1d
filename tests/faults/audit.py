"""What a fault test checks at the end: the sender's answers against what the database holds.

Every delivery carries a unique ``X-Request-Id``, which the service records in
``callbacks.http_request_id``; so each 200 the sender saw is matched to its own
row, not merely counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from storage import audit_chain
from storage.db import Database
from storage.models import Callback, Job, ProcessorRequest
from tests.support.load import Answer

RECORDED = ("accepted", "duplicate")


@dataclass
class Audit:
    """The counts a fault test reports, and every broken invariant found."""

    sent: int = 0
    ok: int = 0
    records: int = 0
    accepted: int = 0
    archives: int = 0
    chained: int = 0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "200s": self.ok,
            "records": self.records,
            "accepted": self.accepted,
            "archives": self.archives,
            "chained": self.chained,
        }

    def summary(self) -> str:
        line = " ".join(f"{name}={value}" for name, value in self.counts().items())
        return line + (f"; problems ({len(self.problems)}): {self.problems[:5]}" if self.problems else "")


def audit_callbacks(database_url: str, answers: Iterable[Answer]) -> Audit:
    """Check: every 200 has its row (same verdict, same request); one acceptance per request,
    and that request moved on, authorised by it; no token counted twice among recorded rows;
    the audit chain, sealed over every transition written under the load, verifies."""
    answers = list(answers)
    database = Database(database_url)
    try:
        with database.transaction() as session:
            rows: dict[str | None, list[Callback]] = {}
            for row in session.scalars(select(Callback)):
                rows.setdefault(row.http_request_id, []).append(row)
            states = {r.id: (r.state, r.authorising_callback_id) for r in session.scalars(select(ProcessorRequest))}
        audit_chain.seal(database)
        chain = audit_chain.verify(database)
    finally:
        database.dispose()
    audit = Audit(sent=len(answers), ok=sum(1 for a in answers if a.status == 200), chained=chain.entries)
    if chain.broken is not None:
        audit.problems.append(f"audit chain broken: {chain.broken}")
    recorded = [row for same_id in rows.values() for row in same_id if row.verdict in RECORDED]
    audit.records, audit.accepted = len(recorded), sum(1 for row in recorded if row.verdict == "accepted")
    audit.problems += _unrecorded_200s(answers, rows)
    audit.problems += _acceptance_problems(recorded, states)
    tokens = Counter(row.jwt_id for row in recorded if row.jwt_id)
    audit.problems += [f"token {jti} recorded {n} times" for jti, n in tokens.items() if n > 1]
    return audit


def _unrecorded_200s(answers: list[Answer], rows: dict[str | None, list[Callback]]) -> list[str]:
    """Each 200 has its row; a resend of the same bytes (same ``X-Request-Id``), answered ``duplicate``
    and recorded nothing, is covered by the row of the delivery it repeats."""
    problems = []
    for answer in answers:
        if answer.status != 200:
            continue
        own = [(row.verdict, row.request_id) for row in rows.get(answer.delivery.http_id, [])]
        resent = answer.verdict == "duplicate" and any(rid == answer.delivery.request_id for _, rid in own)
        if (answer.verdict, answer.delivery.request_id) not in own and not resent:
            problems.append(f"200 ({answer.verdict}) for {answer.delivery.request_id} without its row: {own}")
    return problems


def _acceptance_problems(recorded: list[Callback], states: dict[str, tuple[str, int | None]]) -> list[str]:
    problems = []
    accepted = Counter(row.request_id for row in recorded if row.verdict == "accepted")
    problems += [f"{rid} accepted {n} times" for rid, n in accepted.items() if n > 1]
    for row in recorded:
        if row.verdict != "accepted":
            continue
        state, authorised_by = states.get(row.request_id or "", (None, None))
        if state in (None, "sent") or authorised_by != row.id:
            problems.append(f"{row.request_id} accepted by callback {row.id}, but {state} by {authorised_by}")
    return problems


@dataclass(frozen=True)
class ArchiveRecord:
    state: str
    reason: str | None
    sha256: str | None
    uri: str | None
    job_states: tuple[str, ...]


def archive_records(database_url: str, request_ids: Iterable[str]) -> dict[str, ArchiveRecord]:
    """Each request's state, archive and archive jobs."""
    wanted = set(request_ids)
    database = Database(database_url)
    try:
        with database.transaction() as session:
            jobs: dict[str, list[str]] = {}
            for job in session.scalars(select(Job).where(Job.kind == "archive").order_by(Job.id)):
                jobs.setdefault(job.request_id or "", []).append(job.state)
            return {
                r.id: ArchiveRecord(r.state, r.state_reason, r.archive_sha256, r.archive_uri, tuple(jobs.get(r.id, ())))
                for r in session.scalars(select(ProcessorRequest).where(ProcessorRequest.id.in_(wanted)))
            }
    finally:
        database.dispose()


def archive_problems(records: dict[str, ArchiveRecord], expected_sha256: dict[str, str]) -> list[str]:
    """Every GET with an archive URL ends ``completed`` with the right SHA-256, or ``failed`` with a reason."""
    problems = []
    for request_id, sha256 in expected_sha256.items():
        record = records.get(request_id)
        if record is None:
            problems.append(f"{request_id}: no record")
        elif record.state == "completed" and record.sha256 != sha256:
            problems.append(f"{request_id}: completed with SHA-256 {record.sha256}, expected {sha256}")
        elif record.state == "failed" and not record.reason:
            problems.append(f"{request_id}: failed without a reason")
        elif record.state not in ("completed", "failed"):
            problems.append(f"{request_id}: ended {record.state} (jobs {record.job_states})")
    return problems
