"""A retention run dies after the store deleted an archive and before its receipt; another run takes over.

The death is a ``BaseException`` raised where the receipt would be written: no ``except`` of the
service runs, as when the process is killed there. The claim is then backdated past
``CLAIM_SECONDS`` (time moved in the database, never a mocked clock), and the next run takes it
over with nothing left in the store to list.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import update

from receiver.usecases.retention import run_retention
from storage import retention as kept
from storage.clock import Clock
from storage.models import ProcessorRequest
from tests.support import zips
from tests.support.retention import archive_file, stored_request

ARCHIVES = 3


class Killed(BaseException):
    """The run's process dying between the store's deletion and the receipt."""


def test_a_receipt_written_by_the_run_that_took_over_lists_what_the_dead_run_removed(
    services, client, admin_headers, monkeypatch, report
):
    """Invariant: every deleted archive's receipt lists the version the store removed and its bytes,
    whichever run wrote it, and the request's history says so once."""
    archives = {stored_request(services, completed_days_ago=31, archive=zips.zip_bytes({"a": b"x" * n})): n for n in
                range(1, ARCHIVES + 1)}  # fmt: skip

    def die(*_arguments: object, **_keywords: object) -> None:
        raise Killed

    monkeypatch.setattr(kept, "record_deletion", die)
    with pytest.raises(Killed):
        run_retention(services, actor="first-run")
    monkeypatch.undo()
    gone_before_takeover = [rid for rid in archives if not archive_file(services, rid).exists()]
    with services.database.transaction() as session:
        session.execute(
            update(ProcessorRequest)
            .where(ProcessorRequest.archive_deletion_started_at.is_not(None))
            .values(archive_deletion_started_at=Clock().now() - dt.timedelta(seconds=kept.CLAIM_SECONDS + 60))
        )
    second = run_retention(services, actor="second-run")

    receipts = {
        rid: client.get(f"/api/requests/{rid}", headers=admin_headers).json["archive"]["deletionReceipt"]
        for rid in archives
    }
    events = {
        rid: [e["note"] for e in client.get(f"/api/requests/{rid}", headers=admin_headers).json["events"]]
        for rid in archives
    }
    counts = report(
        archives=ARCHIVES,
        deleted_by_the_dead_run=len(gone_before_takeover),
        deleted_by_the_takeover=next(c for c in second.classes if c.name == "archives").done["deleted"],
        receipts_with_versions=sum(bool(r and r["versions"]) for r in receipts.values()),
    )
    assert len(gone_before_takeover) == 1, counts  # the first run died after its first deletion
    for rid, receipt in receipts.items():
        assert receipt is not None and receipt["deletedBy"] == "second-run", counts
        assert [v["bytes"] for v in receipt["versions"]] == [receipt["bytes"]], (rid, receipt, counts)
        assert len(events[rid]) == 1 and f"1 version(s), {receipt['bytes']} bytes" in events[rid][0], events[rid]
    assert all(json.loads(r.archive_deleted_versions or "[]") for r in rows(services)), counts


def rows(services) -> list[ProcessorRequest]:
    with services.database.transaction() as session:
        return list(session.query(ProcessorRequest).filter(ProcessorRequest.archive_uri.is_not(None)))
