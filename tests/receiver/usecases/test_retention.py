"""The retention run: what it deletes, what it keeps and why, the receipt, and each class's own period.

Time is never mocked: rows are backdated in the database, as if the service had been running that long.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select

from receiver.usecases import legal_holds
from receiver.usecases.retention import RetentionReport, run_retention
from storage import jobs, lifecycle, registry
from storage.clock import Clock
from storage.errors import StorageError
from storage.models import Callback, Job, ProcessorRequest, ReplayKey
from storage.refusals import Refusal, take_slots
from tests.support import zips
from tests.support.retention import add_case, archive_file, stored_request

DAY = dt.timedelta(days=1)


def outcome(report: RetentionReport, name: str):
    return next(item for item in report.classes if item.name == name)


def test_due_archives_are_deleted_and_the_others_kept_each_with_its_reason(services, client, admin_headers):
    due = stored_request(services, completed_days_ago=31)
    recent = stored_request(services, completed_days_ago=29)
    open_case = add_case(services)
    in_open_case = stored_request(services, completed_days_ago=90, case_id=open_case)
    closed_case = add_case(services, closed_days_ago=31)
    in_closed_case = stored_request(services, completed_days_ago=60, case_id=closed_case)
    held_case = add_case(services, closed_days_ago=31)
    held = stored_request(services, completed_days_ago=60, case_id=held_case)
    legal_holds.place_legal_hold(services, held_case, {"reason": "litigation"}, actor="carol")

    report = run_retention(services, actor="ops-test")

    archives = outcome(report, "archives")
    assert archives.done["deleted"] == 2 and archives.done["failed"] == 0
    assert dict(archives.kept) == {"retention period not over": 1, "case open": 1, "legal hold": 1}
    assert archives.notes == [f"legal hold on {held_case}: 1 archive(s) kept"]
    assert not archive_file(services, due).exists() and not archive_file(services, in_closed_case).exists()
    assert all(archive_file(services, kept).exists() for kept in (recent, in_open_case, held))
    lines = report.lines()
    assert lines[1].startswith(
        "archives (30 days after the case closed, or the request completed outside a case: "
        "ARCHIVE_RETENTION_DAYS): deleted 2, versions 2, bytes "
    )
    assert "; kept 3: case open 1, legal hold 1, retention period not over 1" in lines[1]
    assert not report.failed


def test_the_receipt_shows_on_the_request_and_the_record_stays(services, client, admin_headers):
    archive = zips.zip_bytes({"data.json": b'{"a": 1}'})
    request_id = stored_request(services, completed_days_ago=31, archive=archive)
    run_retention(services, actor="ops-test")
    shown = client.get(f"/api/requests/{request_id}", headers=admin_headers).json
    receipt = shown["archive"]["deletionReceipt"]
    assert shown["state"] == "completed" and shown["archive"]["deletedAt"] == receipt["deletedAt"]
    assert receipt["deletedBy"] == "ops-test"
    assert receipt["policy"].startswith("ARCHIVE_RETENTION_DAYS=30: request completed ")
    assert (receipt["bytes"], receipt["sha256"]) == (len(archive), hashlib.sha256(archive).hexdigest())
    assert receipt["uri"] == shown["archive"]["uri"] and receipt["measuredAt"] == shown["archive"]["storedAt"]
    assert receipt["versions"] == [{"versionId": None, "bytes": len(archive), "deleteMarker": False, "partial": False}]
    assert [event["kind"] for event in shown["events"]] == ["archive_deleted"]
    assert shown["events"][0]["actor"] == "ops-test"


def test_a_deleted_archive_is_no_longer_handed_out(services, client, admin_headers):
    request_id = stored_request(services, completed_days_ago=31)
    run_retention(services, actor="ops-test")
    answer = client.get(f"/api/requests/{request_id}/archive", headers=admin_headers)
    assert answer.status_code == 404
    assert "deleted under the retention policy" in answer.json["errors"][0]["description"]


def test_a_second_run_finds_nothing_more_to_delete(services):
    stored_request(services, completed_days_ago=31)
    run_retention(services, actor="ops-test")
    again = outcome(run_retention(services, actor="ops-test"), "archives")
    assert again.done["deleted"] == 0 and not again.kept


def test_a_store_that_fails_leaves_the_archive_claimable_and_the_run_reports_it(services, monkeypatch):
    request_id = stored_request(services, completed_days_ago=31)

    def unavailable(uri: str):
        raise StorageError("unavailable", "archive file delete failed: Input/output error")

    monkeypatch.setattr(services.archive_store, "delete_all_versions", unavailable)
    report = run_retention(services, actor="ops-test")
    archives = outcome(report, "archives")
    assert report.failed and archives.done["failed"] == 1
    assert archives.notes == [f"not deleted: {request_id}: unavailable: archive file delete failed: Input/output error"]
    monkeypatch.undo()
    assert outcome(run_retention(services, actor="ops-test"), "archives").done["deleted"] == 1


def test_a_run_asked_to_stop_ends_between_two_classes(services):
    asked = iter([False, True])
    report = run_retention(services, actor="ops-test", should_stop=lambda: next(asked, True))
    assert report.interrupted and [item.name for item in report.classes] == ["archives"]


def test_secrets_go_after_their_period_and_a_failed_request_cannot_be_retried_after(services, client, admin_headers):
    old = stored_request(services, completed_days_ago=15)
    fresh = stored_request(services, completed_days_ago=13)
    with services.database.transaction() as session:
        failed = registry.register(
            session,
            registry.NewRequest(
                "failed-1", registry.MESSAGEBIRD, "KIND_PERSONAL_GET", signature_key_sealed=services.secrets.seal("k")
            ),
        )
        lifecycle.move(failed, lifecycle.CALLBACK_RECEIVED, at=Clock().now() - 20 * DAY)
        lifecycle.move(failed, lifecycle.FAILED, at=Clock().now() - 20 * DAY, reason="download failed: http_500 at x")
        job = jobs.enqueue(session, kind=jobs.ARCHIVE, request_id="failed-1", payload_sealed=services.secrets.seal("u"))
        job.state = jobs.FAILED
    secrets = outcome(run_retention(services, actor="ops-test"), "secrets")
    assert secrets.done == {"erased for requests": 2, "signature keys": 2, "archive URLs": 1}
    with services.database.transaction() as session:
        keys = dict(session.execute(select(ProcessorRequest.id, ProcessorRequest.signature_key_sealed)).all())
        payload = session.scalar(select(Job.payload_sealed).where(Job.request_id == "failed-1"))
    assert keys[old] is None and keys["failed-1"] is None and keys[fresh] is not None and payload is None
    refused = client.post("/api/requests/failed-1/retry", headers=admin_headers)
    assert refused.status_code == 409 and "erased by the retention policy" in refused.json["errors"][0]["description"]
    assert client.get("/api/requests/failed-1", headers=admin_headers).json["secretsErasedAt"] is not None


def test_jobs_addresses_samples_and_replay_keys_go_after_their_own_periods(services):
    old = Clock().now() - 31 * DAY
    with services.database.transaction() as session:
        done = jobs.enqueue(session, kind=jobs.RECONCILE, request_id=None)
        done.state, done.updated_at = jobs.DONE, old
        session.add(
            Callback(
                provider="messagebird",
                received_at=old,
                remote_addr="198.51.100.4",
                verdict="accepted",
                status_code=200,
                jwt_verdict="passed",
                hmac_verdict="passed",
            )
        )
        session.add(ReplayKey(key="jwt:expired", expires_at=Clock().now().timestamp() - 1))
        session.add(ReplayKey(key="jwt:live", expires_at=Clock().now().timestamp() + 600))
        take_slots(
            session.connection(),
            [
                (0, Refusal(Clock().now() - 8 * DAY, 401, "jwt_bad_signature", "198.51.100.5", "00" * 32, 10)),
                (1, Refusal(Clock().now() - 6 * DAY, 401, "jwt_bad_signature", "198.51.100.5", "00" * 32, 10)),
            ],
        )
    report = run_retention(services, actor="ops-test")
    assert outcome(report, "finished jobs").done == {"deleted": 1}
    assert outcome(report, "client addresses").done == {"cleared": 1}
    assert outcome(report, "refused-delivery samples").done == {"deleted": 1}
    redis = services.settings.replay_cache_url is not None
    assert outcome(report, "replay keys").done == {"deleted": 0 if redis else 1}
    with services.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ReplayKey)) == (2 if redis else 1)
    assert report.counts()["client_addresses_cleared"] == 1


def test_the_report_says_what_each_class_is_kept_for(services):
    lines = run_retention(services, actor="cli:ops").lines()
    assert lines[0].startswith("retention run by cli:ops at ")
    assert [line.split(" (")[0] for line in lines[1:] if not line.startswith("  ")] == [
        "archives",
        "answers to subjects",
        "secrets",
        "finished jobs",
        "client addresses",
        "refused-delivery samples",
        "replay keys",
    ]
    assert lines[3] == (
        "secrets (14 days after the request ended: SECRETS_RETENTION_DAYS): erased for requests 0, "
        "signature keys 0, archive URLs 0"
    )


@pytest.fixture
def app_env(app_env):
    return {**app_env, "ARCHIVE_RETENTION_DAYS": "30", "SECRETS_RETENTION_DAYS": "14"}


def ended_without_archive(services, request_id: str, *, days_ago: float, failed: bool, case_id: str | None = None):
    """A GET request that failed (or completed with no personal data) ``days_ago``, its callback's raw inputs kept."""
    at = Clock().now() - days_ago * DAY
    with services.database.transaction() as session:
        request = registry.register(
            session,
            registry.NewRequest(request_id, registry.MESSAGEBIRD, "KIND_PERSONAL_GET", signature_key_sealed="k"),
        )
        request.case_id = case_id
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, at=at - DAY)
        if failed:
            lifecycle.move(request, lifecycle.FAILED, at=at, reason="download failed: http_404 at files.example.test")
        else:
            lifecycle.move(request, lifecycle.COMPLETED, at=at, reason="no personal data held")
        session.add(
            Callback(
                provider="messagebird",
                request_id=request_id,
                verdict="accepted",
                status_code=200,
                jwt_verdict="passed",
                hmac_verdict="passed",
                raw_inputs_sealed="sealed-inputs-with-the-archive-url",
            )
        )


def kept_raw_inputs(services) -> dict[str, bool]:
    with services.database.transaction() as session:
        rows = session.execute(select(Callback.request_id, Callback.raw_inputs_sealed)).all()
    return {request_id: sealed is not None for request_id, sealed in rows}


def test_raw_inputs_of_a_request_without_an_archive_go_on_the_archives_schedule(services, client, admin_headers):
    """A failed download stores no archive, yet its callback's raw inputs hold the archive URL: they are
    erased ``ARCHIVE_RETENTION_DAYS`` after the request ended, with the history entry of an archive's deletion."""
    ended_without_archive(services, "failed-old", days_ago=31, failed=True)
    ended_without_archive(services, "empty-old", days_ago=31, failed=False)
    ended_without_archive(services, "failed-recent", days_ago=29, failed=True)
    held_case = add_case(services, closed_days_ago=40)
    ended_without_archive(services, "failed-held", days_ago=31, failed=True, case_id=held_case)
    legal_holds.place_legal_hold(services, held_case, {"reason": "litigation"}, actor="carol")

    archives = outcome(run_retention(services, actor="ops-test"), "archives")

    assert archives.done["raw inputs erased without an archive"] == 2
    assert kept_raw_inputs(services) == {
        "failed-old": False,
        "empty-old": False,
        "failed-recent": True,
        "failed-held": True,
    }
    events = client.get("/api/requests/failed-old", headers=admin_headers).json["events"]
    assert [(e["kind"], e["actor"]) for e in events] == [("archive_deleted", "ops-test")]
    assert events[0]["note"].startswith("ARCHIVE_RETENTION_DAYS=30: request failed ")
    assert events[0]["note"].endswith("; no archive was stored; the raw inputs of 1 callback(s) erased")
    again = outcome(run_retention(services, actor="ops-test"), "archives")
    assert again.done["raw inputs erased without an archive"] == 0
