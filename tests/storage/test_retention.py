"""Retention in SQL: which archives are due and why others are kept, the claim and the receipt, and the
erasures and purges of the other classes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from sqlalchemy import select

from storage import jobs, lifecycle, registry
from storage import retention as kept
from storage.archives import DeletedArchive, DeletedVersion
from storage.clock import Clock
from storage.db import Database
from storage.models import Callback, Case, Job, ProcessorRequest, RequestEvent

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
RETENTION = dt.timedelta(days=30)
_ids = itertools.count()


def archive(**changes: object) -> kept.LiveArchive:
    """An archive completed 40 days before NOW, in no case, not held, not downloading, not claimed."""
    base = {
        "request_id": "r-1",
        "uri": "file:///a/r-1.zip",
        "state": lifecycle.COMPLETED,
        "completed_at": NOW - 40 * DAY,
        "case_id": None,
        "case_closed_at": None,
        "held_since": None,
        "deletion_started_at": None,
        "downloading": False,
    }
    return kept.LiveArchive(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "kept_because"),
    [
        ({}, None),
        ({"completed_at": NOW - 29 * DAY}, kept.KEPT_NOT_YET),
        ({"completed_at": NOW - RETENTION}, None),  # exactly the period: due
        ({"case_id": "case-1"}, kept.KEPT_CASE_OPEN),
        ({"case_id": "case-1", "case_closed_at": NOW - 31 * DAY}, None),
        # an archive that arrived after its case closed (an override) counts from its arrival
        ({"case_id": "case-1", "case_closed_at": NOW - 90 * DAY, "completed_at": NOW - 2 * DAY}, kept.KEPT_NOT_YET),
        # the clock starts at the case's closing, not at the request's completion
        ({"case_id": "case-1", "case_closed_at": NOW - 2 * DAY}, kept.KEPT_NOT_YET),
        ({"case_id": "case-1", "case_closed_at": NOW - 90 * DAY, "held_since": NOW - 95 * DAY}, kept.KEPT_HELD),
        ({"held_since": NOW - DAY, "case_id": "case-1"}, kept.KEPT_HELD),
        ({"downloading": True}, kept.KEPT_DOWNLOADING),
        ({"deletion_started_at": NOW - dt.timedelta(seconds=60)}, kept.KEPT_BEING_DELETED),
        # a claim older than CLAIM_SECONDS was left by a run that died: taken over
        ({"deletion_started_at": NOW - dt.timedelta(seconds=kept.CLAIM_SECONDS + 1)}, None),
        ({"state": lifecycle.ARCHIVING, "completed_at": None}, kept.KEPT_NOT_COMPLETED),
    ],
)
def test_an_archive_is_due_once_its_period_is_over_unless_something_keeps_it(changes, kept_because):
    verdict = kept.archive_verdict(archive(**changes), retention=RETENTION, now=NOW)
    assert verdict.kept_because == kept_because
    assert verdict.due is (kept_because is None)


def test_a_due_verdict_says_what_started_its_clock():
    in_case = kept.archive_verdict(
        archive(case_id="case-9", case_closed_at=NOW - 31 * DAY), retention=RETENTION, now=NOW
    )
    alone = kept.archive_verdict(archive(), retention=RETENTION, now=NOW)
    assert (in_case.basis, in_case.since) == ("case case-9 closed", NOW - 31 * DAY)
    assert (alone.basis, alone.since) == ("request completed", NOW - 40 * DAY)
    late = kept.archive_verdict(archive(case_id="case-9", case_closed_at=NOW - 90 * DAY), retention=RETENTION, now=NOW)
    assert (late.basis, late.since) == ("request completed after case case-9 closed", NOW - 40 * DAY)


def add_case(database: Database, *, closed_at: dt.datetime | None = None, held: bool = False) -> str:
    case_id = f"case-ret-{next(_ids)}"
    with database.transaction() as session:
        session.add(
            Case(
                id=case_id,
                subject_ref="T-1",
                right="access",
                jurisdiction="UK",
                received_on=dt.date(2026, 1, 5),
                due_on=dt.date(2026, 2, 5),
                original_due_on=dt.date(2026, 2, 5),
                created_by="ops",
                responded_on=closed_at.date() if closed_at else None,
                closed_at=closed_at,
                legal_hold_since=NOW - 100 * DAY if held else None,
                legal_hold_by="ops" if held else None,
            )
        )
    return case_id


def add_request(
    database: Database,
    *,
    state: str = lifecycle.COMPLETED,
    ended_at: dt.datetime = NOW - 40 * DAY,
    case_id: str | None = None,
    stored: bool = True,
    job_state: str | None = jobs.DONE,
) -> str:
    """A GET request moved to ``state`` at ``ended_at``, with its archive (if ``stored``) and its archive job."""
    request_id = f"req-ret-{next(_ids)}"
    with database.transaction() as session:
        request = registry.register(
            session,
            registry.NewRequest(
                request_id, registry.MESSAGEBIRD, "KIND_PERSONAL_GET", signature_key_sealed="sealed-key"
            ),
        )
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, at=ended_at - DAY)
        if state != lifecycle.CALLBACK_RECEIVED:
            lifecycle.move(request, state, at=ended_at)
        request.case_id = case_id
        if stored:
            request.archive_uri, request.archive_bytes, request.archive_sha256 = (
                f"file:///a/{request_id}.zip",
                254,
                "ab" * 32,
            )
            request.archive_stored_at = ended_at
        if job_state is not None:
            job = jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request_id, payload_sealed="sealed-url")
            job.state, job.updated_at = job_state, ended_at
    return request_id


def request_row(database: Database, request_id: str) -> ProcessorRequest:
    with database.transaction() as session:
        found = session.get(ProcessorRequest, request_id)
        assert found is not None
        return found


def test_live_archives_are_the_stored_ones_not_yet_deleted_with_what_their_fate_depends_on(database):
    closed = add_case(database, closed_at=NOW - 31 * DAY, held=True)
    held = add_request(database, case_id=closed)
    downloading = add_request(database, state=lifecycle.ARCHIVING, stored=False, job_state=jobs.RUNNING)
    stored = add_request(database)
    add_request(database, stored=False)
    with database.transaction() as session:
        session.get(ProcessorRequest, stored).archive_deleted_at = NOW
    with database.reading() as connection:
        found = {a.request_id: a for a in kept.live_archives(connection)}
    assert set(found) == {held}
    assert found[held].case_closed_at == NOW - 31 * DAY and found[held].held_since == NOW - 100 * DAY
    assert downloading not in found


def test_a_request_with_an_archive_job_queued_or_running_is_downloading(database):
    request_id = add_request(database, job_state=jobs.QUEUED)
    with database.reading() as connection:
        (found,) = kept.live_archives(connection)
    assert found.request_id == request_id and found.downloading


def test_a_claim_marks_the_archive_and_keeps_a_second_run_off_it(database):
    request_id = add_request(database)
    with database.transaction() as session:
        first, verdict = kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
    with database.transaction() as session:
        _, second = kept.claim_archive(session, request_id, retention=RETENTION, now=NOW + dt.timedelta(seconds=5))
    assert first is not None and verdict.due
    assert second.kept_because == kept.KEPT_BEING_DELETED
    assert request_row(database, request_id).archive_deletion_started_at == NOW


def test_a_claim_takes_the_verdict_again_on_the_case_as_it_stands(database):
    """A hold placed after the list was read is seen when the archive is claimed."""
    case_id = add_case(database, closed_at=NOW - 31 * DAY)
    request_id = add_request(database, case_id=case_id)
    with database.transaction() as session:
        session.get(Case, case_id).legal_hold_since = NOW
    with database.transaction() as session:
        _, verdict = kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
    assert verdict.kept_because == kept.KEPT_HELD
    assert request_row(database, request_id).archive_deletion_started_at is None


def test_the_receipt_keeps_what_was_deleted_when_by_whom_and_why(database):
    request_id = add_request(database)
    deleted = DeletedArchive(
        f"file:///a/{request_id}.zip", (DeletedVersion("v1", 254), DeletedVersion("m1", None, True))
    )
    with database.transaction() as session:
        session.add(
            Callback(
                provider="messagebird",
                request_id=request_id,
                verdict="accepted",
                status_code=200,
                jwt_verdict="passed",
                hmac_verdict="passed",
                raw_inputs_sealed="sealed-inputs",
            )
        )
    with database.transaction() as session:
        kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
        kept.record_deletion(
            session, request_id, deleted, actor="service", policy="ARCHIVE_RETENTION_DAYS=30: x", at=NOW
        )
    row = request_row(database, request_id)
    assert (row.archive_deleted_at, row.archive_deleted_by, row.archive_deletion_policy) == (
        NOW,
        "service",
        "ARCHIVE_RETENTION_DAYS=30: x",
    )
    assert json.loads(row.archive_deleted_versions or "") == [
        {"versionId": "v1", "bytes": 254, "deleteMarker": False, "partial": False},
        {"versionId": "m1", "bytes": None, "deleteMarker": True, "partial": False},
    ]
    assert row.archive_deletion_started_at is None
    assert row.archive_uri and row.archive_sha256 == "ab" * 32  # the record outlives the data
    with database.transaction() as session:
        event = session.scalars(select(RequestEvent).where(RequestEvent.request_id == request_id)).one()
    assert (event.kind, event.actor) == (kept.ARCHIVE_DELETED, "service")
    assert event.note == (
        "ARCHIVE_RETENTION_DAYS=30: x; the store removed 2 version(s), 254 bytes; "
        "the raw inputs of 1 callback(s) erased"
    )
    with database.transaction() as session:
        callback = session.scalars(select(Callback).where(Callback.request_id == request_id)).one()
    assert callback.raw_inputs_sealed is None and callback.verdict == "accepted", (
        "erased with the archive, not the record"
    )


def test_a_released_claim_lets_the_next_run_try_at_once(database):
    request_id = add_request(database)
    with database.transaction() as session:
        kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
        kept.release_claim(session, request_id)
    with database.transaction() as session:
        _, verdict = kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
    assert verdict.due


def secrets_of(database: Database, request_id: str) -> tuple[str | None, list[str | None], dt.datetime | None]:
    with database.transaction() as session:
        row = session.get(ProcessorRequest, request_id)
        assert row is not None
        payloads = list(session.scalars(select(Job.payload_sealed).where(Job.request_id == request_id)))
        return row.signature_key_sealed, payloads, row.secrets_erased_at


def erase_due(database: Database, *, ended_before: dt.datetime, now: dt.datetime, limit: int = 500) -> kept.Erased:
    with database.transaction() as session:
        due = kept.requests_with_secrets_due(session, ended_before=ended_before, limit=limit)
        return kept.erase_request_secrets(session, due, now=now)


def test_secrets_go_once_the_request_ended_long_enough_ago(database):
    completed = add_request(database, ended_at=Clock().now() - 15 * DAY)
    failed = add_request(
        database, state=lifecycle.FAILED, ended_at=Clock().now() - 15 * DAY, job_state=jobs.FAILED, stored=False
    )
    recent = add_request(database, ended_at=Clock().now() - 13 * DAY)
    waiting = add_request(
        database,
        state=lifecycle.CALLBACK_RECEIVED,
        ended_at=Clock().now() - 60 * DAY,
        job_state=jobs.QUEUED,
        stored=False,
    )
    now = Clock().now()
    assert erase_due(database, ended_before=now - 14 * DAY, now=now) == kept.Erased(signature_keys=2, archive_urls=2)
    assert secrets_of(database, completed) == (None, [None], now)
    assert secrets_of(database, failed) == (None, [None], now)
    assert secrets_of(database, recent) == ("sealed-key", ["sealed-url"], None)
    assert secrets_of(database, waiting) == ("sealed-key", ["sealed-url"], None)


def test_a_request_is_erased_once(database):
    request_id = add_request(database, ended_at=Clock().now() - 15 * DAY)
    first = erase_due(database, ended_before=Clock().now(), now=Clock().now())
    with database.transaction() as session:
        assert kept.requests_with_secrets_due(session, ended_before=Clock().now()) == []
    assert first == kept.Erased(1, 1) and secrets_of(database, request_id)[2] is not None


def test_a_failed_request_whose_download_is_queued_again_keeps_its_secrets(database):
    """Ops' retry (or a new URL from the listing) put a job in the queue: the request is being moved on."""
    request_id = add_request(
        database, state=lifecycle.FAILED, ended_at=Clock().now() - 60 * DAY, job_state=jobs.QUEUED, stored=False
    )
    assert erase_due(database, ended_before=Clock().now() - 14 * DAY, now=Clock().now()) == kept.Erased()
    assert secrets_of(database, request_id)[0] == "sealed-key"


def test_secrets_are_erased_in_batches(database):
    for _ in range(3):
        add_request(database, ended_at=Clock().now() - 20 * DAY)
    first = erase_due(database, ended_before=Clock().now(), now=Clock().now(), limit=2)
    second = erase_due(database, ended_before=Clock().now(), now=Clock().now(), limit=2)
    assert (first.signature_keys, second.signature_keys) == (2, 1)


def job_ids(database: Database) -> dict[int, tuple[str, str | None]]:
    with database.transaction() as session:
        return {job.id: (job.kind, job.request_id) for job in session.scalars(select(Job))}


def test_finished_jobs_go_after_their_period_and_a_requests_only_once_its_secrets_went(database):
    erased = add_request(database, ended_at=Clock().now() - 40 * DAY)
    not_erased = add_request(database, ended_at=Clock().now() - 40 * DAY)
    with database.transaction() as session:
        session.get(ProcessorRequest, erased).secrets_erased_at = Clock().now()
        old = Clock().now() - 31 * DAY
        for kind, state in (
            (jobs.RECONCILE, jobs.DONE),
            (jobs.RETENTION, jobs.FAILED),
            (jobs.RECONCILE, jobs.QUEUED),
            ("notify", jobs.DONE),
            ("deadline_check", jobs.DONE),
        ):
            job = jobs.enqueue(session, kind=kind, request_id=None)
            job.state, job.updated_at = state, old
        recent = jobs.enqueue(session, kind=jobs.RECONCILE, request_id=None)
        recent.state = jobs.DONE
    with database.transaction() as session:
        assert kept.purge_finished_jobs(session, finished_before=Clock().now() - 30 * DAY) == 4
    left = sorted(job_ids(database).values(), key=str)
    assert left == sorted(
        [("archive", not_erased), ("reconcile", None), ("reconcile", None), ("notify", None)], key=str
    )


def test_client_addresses_are_cleared_after_their_period(database):
    with database.transaction() as session:
        for days, address in ((31, "203.0.113.7"), (29, "203.0.113.8"), (40, None)):
            session.add(
                Callback(
                    provider="messagebird",
                    received_at=Clock().now() - days * DAY,
                    remote_addr=address,
                    verdict="accepted",
                    status_code=200,
                    jwt_verdict="passed",
                    hmac_verdict="passed",
                )
            )
    with database.transaction() as session:
        assert kept.forget_client_addresses(session, received_before=Clock().now() - 30 * DAY) == 1
    with database.transaction() as session:
        assert sorted(filter(None, session.scalars(select(Callback.remote_addr)))) == ["203.0.113.8"]


def test_a_run_taking_over_a_claim_after_the_store_deleted_still_lists_what_was_removed(database):
    """The first run listed and kept the versions with its claim, the store deleted them, and the run died
    before its receipt: the run that takes the claim over finds nothing left, and its receipt lists them."""
    request_id = add_request(database)
    listed = (DeletedVersion("v1", 254), DeletedVersion("m1", None, True))
    with database.transaction() as session:
        kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
    with database.transaction() as session:
        kept.keep_listed_versions(session, request_id, listed)
    later = NOW + dt.timedelta(seconds=kept.CLAIM_SECONDS + 1)
    with database.transaction() as session:
        _, verdict = kept.claim_archive(session, request_id, retention=RETENTION, now=later)
        assert verdict.due  # taken over
    with database.transaction() as session:
        kept.keep_listed_versions(session, request_id, ())
        removed = kept.record_deletion(
            session, request_id, DeletedArchive("file:///a.zip", ()), actor="service", policy="p", at=later
        )
    assert removed.versions == listed and removed.data_bytes == 254
    assert [v["versionId"] for v in json.loads(request_row(database, request_id).archive_deleted_versions)] == [
        "v1",
        "m1",
    ]


def test_what_the_deletion_finds_besides_the_listing_is_in_the_receipt_once(database):
    request_id = add_request(database)
    with database.transaction() as session:
        kept.claim_archive(session, request_id, retention=RETENTION, now=NOW)
        kept.keep_listed_versions(session, request_id, (DeletedVersion("v1", 10),))
        removed = kept.record_deletion(
            session,
            request_id,
            DeletedArchive("file:///a.zip", (DeletedVersion("v1", 10), DeletedVersion("v2", 5))),
            actor="service",
            policy="p",
            at=NOW,
        )
    assert removed.versions == (DeletedVersion("v1", 10), DeletedVersion("v2", 5))
