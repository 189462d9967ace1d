"""Retention: keep each class of data only as long as its purpose needs, then delete it with a receipt.

Storage limitation, GDPR Art. 5(1)(e): personal data is kept no longer than is necessary for the
purposes it is processed for. The receipt is the Controller's proof of it (accountability, Art. 5(2)).

``run_retention`` applies the policy once; the worker's periodic ``retention`` job and
``flask retention run`` both call it. Each class has its own period (a setting) and its
own outcome in the report:

- **archives** (``ARCHIVE_RETENTION_DAYS`` after the case closed, or the request completed in
  no case): every version deleted, then a receipt (``storage.retention``: claim, delete,
  record); kept, with the reason, while the case is open or held, the period not over, a
  download in flight or another run deleting it. A request without an archive has its raw
  inputs erased on the same schedule; the subject's answers go with the case's archives
  (``receiver.usecases.subject_retention``);
- **secrets** (``SECRETS_RETENTION_DAYS`` after the request ended): the sealed signature key
  and archive URLs; after them a failed request stays failed;
- **finished jobs**, **client addresses**, **refused-delivery samples**, **replay keys**, each
  after its own period.

A class that fails (its backend unavailable) is reported as failed and the others still
run. Times are the service's clock (``services.clock``).
The policy, class by class, and the deletion receipt: docs/retention.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import subject_retention
from receiver.usecases.answers import iso_time
from storage import case_registry, jobs, refusals
from storage import retention as kept
from storage.archives import DeletedArchive
from storage.errors import StorageError
from storage.replay import RedisReplayCache

log = get_logger(__name__)

RETENTION = jobs.RETENTION  #: the periodic job kind that runs the policy
#: The actor a policy deletion records when the worker made it.
WORKER_ACTOR = case_registry.SERVICE

#: Requests whose secrets are erased per transaction.
SECRETS_BATCH = 500


@dataclass
class ClassOutcome:
    """What one class of data came to in one run: done (counts), kept (counts by reason), notes, failure."""

    name: str
    period: str
    done: dict[str, int] = field(default_factory=dict)
    kept: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    failed: str | None = None

    def line(self) -> str:
        parts = [", ".join(f"{what} {count}" for what, count in self.done.items()) or "nothing done"]
        if self.kept:
            reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.kept.items()))
            parts.append(f"kept {sum(self.kept.values())}: {reasons}")
        if self.failed:
            parts.append(f"FAILED: {self.failed}")
        return f"{self.name} ({self.period}): " + "; ".join(parts)


@dataclass
class RetentionReport:
    """One run: who ran it, when, and each class's outcome."""

    actor: str
    started_at: dt.datetime
    classes: list[ClassOutcome] = field(default_factory=list)
    #: The run stopped early (the worker is stopping): what is left waits for the next run.
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        return any(outcome.failed or _failures(outcome) for outcome in self.classes)

    def lines(self) -> list[str]:
        lines = [
            f"retention run by {self.actor} at {iso_time(self.started_at)}"
            + (" (stopped early: the rest waits for the next run)" if self.interrupted else "")
        ]
        for outcome in self.classes:
            lines.append(outcome.line())
            lines += [f"  {note}" for note in outcome.notes]
        return lines

    def counts(self) -> dict[str, int]:
        """Every count as one flat mapping (``archives_deleted``, ``archives_kept_legal_hold`` ...), for the log."""
        counts = {}
        for outcome in self.classes:
            for what, count in [*outcome.done.items(), *((f"kept {r}", n) for r, n in outcome.kept.items())]:
                counts[_slug(f"{outcome.name} {what}")] = count
        return counts


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _failures(outcome: ClassOutcome) -> int:
    return outcome.done.get("failed", 0)


def run_retention(
    services: Services, *, actor: str, should_stop: Callable[[], bool] = lambda: False
) -> RetentionReport:
    """Apply the retention policy to every class once; the report says what was done, kept and why."""
    report = RetentionReport(actor=actor, started_at=services.clock.now())
    for apply in (_archives, _answers, _secrets, _finished_jobs, _client_addresses, _refusal_samples, _replay_keys):
        if should_stop():
            report.interrupted = True
            break
        report.classes.append(_applied(apply, services, actor, should_stop))
    log.info("retention.finished", actor=actor, interrupted=report.interrupted, **report.counts())
    return report


Apply = Callable[[Services, str, Callable[[], bool], ClassOutcome], None]


def _applied(apply: Apply, services: Services, actor: str, should_stop: Callable[[], bool]) -> ClassOutcome:
    """Run one class; a ``StorageError`` fails that class only."""
    outcome = _outcome_for(apply, services)
    try:
        apply(services, actor, should_stop, outcome)
    except StorageError as error:
        outcome.failed = f"storage {error.reason}: {error.message}"
        log.warning("retention.class_failed", retention_class=outcome.name, reason=error.reason, error=error.message)
    return outcome


def _outcome_for(apply: Apply, services: Services) -> ClassOutcome:
    settings = services.settings
    periods: dict[Apply, tuple[str, str]] = {
        _archives: (
            "archives",
            f"{settings.archive_retention_days} days after the case closed, or the request "
            "completed outside a case: ARCHIVE_RETENTION_DAYS",
        ),
        _answers: (
            "answers to subjects",
            f"{settings.archive_retention_days} days after the case closed, with its archives: ARCHIVE_RETENTION_DAYS",
        ),
        _secrets: (
            "secrets",
            f"{settings.secrets_retention_days} days after the request ended: SECRETS_RETENTION_DAYS",
        ),
        _finished_jobs: ("finished jobs", f"{settings.job_retention_days} days: JOB_RETENTION_DAYS"),
        _client_addresses: (
            "client addresses",
            f"{settings.client_address_retention_days} days: CLIENT_ADDRESS_RETENTION_DAYS",
        ),
        _refusal_samples: (
            "refused-delivery samples",
            f"{settings.refusal_sample_retention_days} days: REFUSAL_SAMPLE_RETENTION_DAYS",
        ),
        _replay_keys: ("replay keys", "until they expire"),
    }
    name, period = periods[apply]
    return ClassOutcome(name, period)


def _days_ago(services: Services, days: int) -> dt.datetime:
    return services.clock.now() - dt.timedelta(days=days)


# -- archives ------------------------------------------------------------------------------


def _archives(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    retention = dt.timedelta(days=services.settings.archive_retention_days)
    with services.database.reading() as connection:
        archives = kept.live_archives(connection)
    now = services.clock.now()
    due = []
    for archive in archives:
        verdict = kept.archive_verdict(archive, retention=retention, now=now)
        if verdict.due:
            due.append(archive.request_id)
        else:
            outcome.kept[verdict.kept_because or kept.KEPT_NOT_COMPLETED] += 1
    outcome.notes += _held_notes(archives)
    outcome.done.update(deleted=0, versions=0, bytes=0, failed=0)
    if due:
        _note_blocker(services, outcome)
    for request_id in due:
        if should_stop():
            break
        _delete_archive(services, request_id, retention=retention, actor=actor, outcome=outcome)
    if not should_stop():
        _raw_inputs_without_archive(services, actor, outcome)


def _held_notes(archives: list[kept.LiveArchive]) -> list[str]:
    held = Counter(archive.case_id for archive in archives if archive.held_since is not None)
    return [f"legal hold on {case_id}: {count} archive(s) kept" for case_id, count in sorted(held.items())]


def _note_blocker(services: Services, outcome: ClassOutcome) -> None:
    try:
        blocker = services.archive_store.deletion_blocker()
    except StorageError as error:
        outcome.notes.append(f"the store's object lock could not be read ({error.reason}): deletions may be refused")
        return
    if blocker:
        outcome.notes.append(f"object lock: {blocker}")


def _delete_archive(
    services: Services, request_id: str, *, retention: dt.timedelta, actor: str, outcome: ClassOutcome
) -> None:
    """Claim, delete every version, record the receipt; a store failure releases the claim and is reported."""
    with services.database.transaction() as session:
        found, verdict = kept.claim_archive(session, request_id, retention=retention, now=services.clock.now())
    if found is None:
        return  # another run deleted it meanwhile
    if not verdict.due:
        outcome.kept[verdict.kept_because or kept.KEPT_NOT_COMPLETED] += 1
        return
    policy = archive_policy(services.settings.archive_retention_days, verdict, now=services.clock.now())
    try:
        deleted = _listed_then_deleted(services, request_id, found.uri)
    except StorageError as error:
        _deletion_failed(services, request_id, error, outcome)
        return
    with services.database.transaction() as session:
        deleted = kept.record_deletion(
            session, request_id, deleted, actor=actor, policy=policy, at=services.clock.now()
        )
    log.info(
        "archive.deleted",
        request_id=request_id,
        versions=[v.version_id for v in deleted.versions],
        bytes=deleted.data_bytes,
        actor=actor,
    )
    outcome.done["deleted"] += 1
    outcome.done["versions"] += len(deleted.versions)
    outcome.done["bytes"] += deleted.data_bytes


def _listed_then_deleted(services: Services, request_id: str, uri: str) -> DeletedArchive:
    """Every version listed and kept with the claim first, so a run that takes the claim over can name them."""
    listed = services.archive_store.list_versions(uri)
    with services.database.transaction() as session:
        kept.keep_listed_versions(session, request_id, listed)
    return services.archive_store.delete_all_versions(uri)


def _deletion_failed(services: Services, request_id: str, error: StorageError, outcome: ClassOutcome) -> None:
    log.warning("archive.delete_failed", request_id=request_id, reason=error.reason, error=error.message)
    with services.database.transaction() as session:
        kept.release_claim(session, request_id)
    outcome.done["failed"] += 1
    outcome.notes.append(f"not deleted: {request_id}: {error.reason}: {error.message}")


def _raw_inputs_without_archive(services: Services, actor: str, outcome: ClassOutcome) -> None:
    """A request that failed, or completed without an archive, keeps its callbacks' raw inputs (the archive URL
    inside) only as long as an archive would be kept: ``ARCHIVE_RETENTION_DAYS`` from its end."""
    days = services.settings.archive_retention_days
    erased = 0
    with services.database.transaction() as session:
        for ended in kept.ended_without_archive(session, ended_before=_days_ago(services, days)):
            verdict = kept.Verdict(None, ended.ended_at, f"request {ended.state}")
            policy = archive_policy(days, verdict, now=services.clock.now())
            kept.erase_raw_inputs_without_archive(session, ended, actor=actor, policy=policy)
            erased += 1
    outcome.done["raw inputs erased without an archive"] = erased


def archive_policy(days: int, verdict: kept.Verdict, *, now: dt.datetime) -> str:
    """The policy a deletion was made under, as its receipt keeps it (an end not known: from ``now``)."""
    since = verdict.since or now
    due = since + dt.timedelta(days=days)
    return f"ARCHIVE_RETENTION_DAYS={days}: {verdict.basis} {iso_time(since)}, due {iso_time(due)}"


# -- the other classes ---------------------------------------------------------------------


def _answers(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    """The subjects' packages and links go with the case's archives (``receiver.usecases.subject_retention``)."""
    subject_retention.apply_to_answers(services, actor, should_stop, outcome)


def _secrets(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    ended_before = _days_ago(services, services.settings.secrets_retention_days)
    totals = Counter[str](requests=0)
    while True:
        with services.database.transaction() as session:
            due = kept.requests_with_secrets_due(session, ended_before=ended_before, limit=SECRETS_BATCH)
            totals.update(erase_request_secrets(session, due, now=services.clock.now()))
        totals["requests"] += len(due)
        if len(due) < SECRETS_BATCH or should_stop():
            break
    outcome.done.update({"erased for requests": totals.pop("requests"), **totals})


def erase_request_secrets(session: Session, request_ids: list[str], *, now: dt.datetime) -> dict[str, int]:
    """The one place where what only the checking of a request's callbacks and the download of its
    archive needed is erased, once the request ended long enough ago: the signature key and the
    sealed archive URLs. How many of each, by name, for the report.

    The requests are locked by the caller's transaction; anything else kept only for that purpose
    is erased here too, in the same transaction.
    """
    erased = kept.erase_request_secrets(session, request_ids, now=now)
    return {"signature keys": erased.signature_keys, "archive URLs": erased.archive_urls}


def _finished_jobs(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    with services.database.transaction() as session:
        outcome.done["deleted"] = kept.purge_finished_jobs(
            session, finished_before=_days_ago(services, services.settings.job_retention_days)
        )


def _client_addresses(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    with services.database.transaction() as session:
        outcome.done["cleared"] = kept.forget_client_addresses(
            session, received_before=_days_ago(services, services.settings.client_address_retention_days)
        )


def _refusal_samples(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    with services.database.connection() as connection:
        outcome.done["deleted"] = refusals.purge_older_than(
            connection, _days_ago(services, services.settings.refusal_sample_retention_days)
        )


def _replay_keys(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    if isinstance(services.replay_cache, RedisReplayCache):
        outcome.notes.append("Redis expires its replay keys itself")
    outcome.done["deleted"] = services.replay_cache.purge_expired()


# -- start-up ------------------------------------------------------------------------------


def warn_if_deletion_blocked(services: Services) -> str | None:
    """Log ``archive_store.deletion_blocked`` when the store's configuration would refuse the policy's
    deletions (an S3 bucket's default object lock retention), and return what blocks them; never raises.

    The worker calls it when it starts, and so does each web process (gunicorn's ``post_worker_init``).
    """
    try:
        blocker = services.archive_store.deletion_blocker()
    except StorageError as error:
        log.warning("archive_store.deletion_check_failed", reason=error.reason, error=error.message)
        return None
    if blocker:
        log.warning(
            "archive_store.deletion_blocked",
            blocker=blocker,
            archive_retention_days=services.settings.archive_retention_days,
        )
    return blocker
