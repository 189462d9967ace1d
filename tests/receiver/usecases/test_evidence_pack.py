"""The evidence pack assembled without I/O: the verdict, the deletion receipt, the timeline, the page, the ZIP."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest

from receiver.usecases import evidence_pack
from receiver.usecases.case_views import view_case
from storage.models import Case

RECEIVED = dt.date(2024, 11, 25)  # EU, no working-day move: due 25 December 2024


def eu_case(**fields) -> Case:
    fields = {"subject_ref": "TICKET-1", **fields}
    return Case(
        id="case-1",
        right="access",
        jurisdiction="EU",
        received_on=RECEIVED,
        due_on=dt.date(2024, 12, 25),
        original_due_on=dt.date(2024, 12, 25),
        created_by="olivia",
        created_at=dt.datetime(2024, 11, 25, 9, tzinfo=dt.UTC),
        events=[],
        pauses=[],
        **fields,
    )


def verdict_of(case: Case, today: dt.date) -> dict:
    return evidence_pack.verdict(view_case(case, [], today=today, margin_days=7))


@pytest.mark.parametrize(
    ("responded_on", "in_time", "days_late", "text"),
    [
        (dt.date(2024, 12, 25), True, 0, "answered within the deadline: answered 2024-12-25, due 2024-12-25"),
        (dt.date(2024, 12, 26), False, 1, "deadline missed by 1 day: answered 2024-12-26, due 2024-12-25"),
        (dt.date(2025, 1, 3), False, 9, "deadline missed by 9 days: answered 2025-01-03, due 2024-12-25"),
    ],
)
def test_an_answered_case_is_in_time_on_the_day_itself_and_late_by_whole_days_after(
    responded_on,
    in_time,
    days_late,
    text,
):
    verdict = verdict_of(eu_case(responded_on=responded_on, delivered_by="post"), dt.date(2025, 2, 1))
    assert verdict == {"answered": True, "inTime": in_time, "daysLate": days_late, "text": text}


@pytest.mark.parametrize(
    ("today", "text"),
    [
        (dt.date(2024, 12, 20), "not answered yet: 5 days left until 2024-12-25"),
        (dt.date(2024, 12, 27), "not answered yet: the deadline 2024-12-25 is missed by 2 days"),
    ],
)
def test_an_open_case_says_how_it_stands(today, text):
    assert verdict_of(eu_case(), today) == {"answered": False, "inTime": None, "daysLate": None, "text": text}


def test_a_deletion_receipt_is_the_one_the_api_shows():
    receipt = {
        "deletedAt": "2025-02-01T03:00:00Z",
        "deletedBy": "service",
        "policy": "ARCHIVE_RETENTION_DAYS=30",
        "versionIds": ["v-1", "v-2"],
        "versions": [],
        "bytes": 10,
        "sha256": None,
    }
    assert evidence_pack.deletion_receipt({"bytes": 10, "deletionReceipt": receipt}) == receipt
    assert evidence_pack.deletion_receipt({"bytes": 10, "deletionReceipt": None}) is None
    assert evidence_pack.deletion_receipt(None) is None


def document(case: Case, requests=(), today=dt.date(2025, 2, 1)) -> dict:
    view = view_case(case, [r["state"] for r in requests], today=today, margin_days=7)
    shown = evidence_pack.evidence_document(view, [], {}, {})
    shown["requests"] = list(requests)
    shown["timeline"] = evidence_pack.timeline(shown)
    return shown


def deleted_request() -> dict:
    return {
        "id": "req-1",
        "provider": "messagebird",
        "kind": "KIND_PERSONAL_GET",
        "state": "completed",
        "createdAt": "2024-11-26T10:00:00Z",
        "completedAt": "2024-11-27T10:00:00Z",
        "callbacks": [],
        "transitions": [
            {"from": "archiving", "to": "failed", "at": "2024-11-26T12:00:00Z", "reason": "http_404", "actor": None},
            {
                "from": "failed",
                "to": "callback_received",
                "at": "2024-11-27T09:00:00Z",
                "reason": "retry requested by ops",
                "actor": "olivia",
            },
        ],
        "archive": {
            "storedAt": "2024-11-27T10:00:00Z",
            "bytes": 10,
            "sha256": "cd" * 32,
            "versionId": None,
            "uri": "s3://archives/req-1.zip",
        },
        "archiveDeletion": {"deletedAt": "2025-01-24T02:00:00Z"},
    }


def test_the_timeline_runs_from_receipt_to_deletion_with_failures_and_ops_retries():
    closed = eu_case(responded_on=dt.date(2024, 12, 20), delivered_by="post", closed_by="olivia")
    entries = document(closed, [deleted_request()])["timeline"]
    assert [entry["kind"] for entry in entries] == [
        "received",
        "request_sent",
        "request_failed",
        "request_changed",
        "archive_stored",
        "request_completed",
        "answer_sent",
        "deadline",
        "archive_deleted",
    ]
    assert entries[3]["actor"] == "olivia" and "retry requested by ops" in entries[3]["label"]


def test_the_page_shows_a_deletion_receipt_field_by_field():
    request = {
        **deleted_request(),
        "archiveDeletion": {
            "deletedAt": "2025-01-24T02:00:00Z",
            "by": "retention",
            "versionIds": ["v-1", "v-2"],
            "bytes": None,
            "versions": [{"versionId": "v-1"}],
        },
    }
    page = evidence_pack.render_html(
        document(
            eu_case(),
            [
                {
                    **request,
                    "transitions": [],
                    "events": [],
                    "targetOn": "2024-12-18",
                    "late": False,
                    "stateReason": None,
                    "hasValueHash": False,
                }
            ],
        )
    )
    assert "<dt>Deletion: versionIds</dt><dd>v-1, v-2</dd>" in page
    assert "<dt>Deletion: by</dt><dd>retention</dd>" in page and "<dt>Deletion: bytes</dt><dd></dd>" in page
    assert "Deletion: versions<" not in page, "each version's details are in evidence.json"


def test_the_page_escapes_what_it_shows_and_the_zip_is_the_same_for_the_same_data():
    shown = document(eu_case(subject_ref="<script>alert(1)</script>", notes='"><img src=x>'))
    page = evidence_pack.render_html(shown)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page and "&#34;&gt;&lt;img src=x&gt;" in page
    first, second = evidence_pack.pack_zip(shown), evidence_pack.pack_zip(json.loads(json.dumps(shown)))
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert json.loads(archive.read("evidence.json")) == shown
        assert [entry.filename for entry in archive.infolist()] == ["evidence.json", "evidence.html", "manifest.json"]
