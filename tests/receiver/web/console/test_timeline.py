"""A case's timeline: each event on its lane, in time order, the deadline lines where they fall."""

from __future__ import annotations

import datetime as dt
import itertools

from receiver.web.console.timeline import LABELS, MIN_GAP, RIGHT, WIDTH, case_timeline

CASE = {
    "receivedOn": "2025-01-01",
    "clockStartsOn": None,
    "dueOn": "2025-03-31",
    "originalDueOn": "2025-02-01",
    "targetOn": "2025-03-24",
    "respondedOn": "2025-03-20",
    "deliveredBy": "secure email",
    "history": [
        {"at": "2025-01-01T09:00:00Z", "actor": "olivia", "kind": "opened", "to": "2025-02-01"},
        {"at": "2025-01-02T10:00:00Z", "actor": "olivia", "kind": "request_added", "to": "r-1"},
        {"at": "2025-01-20T10:00:00Z", "actor": "marc", "kind": "extended", "to": "2025-03-31"},
        {"at": "2025-03-20T10:00:00Z", "actor": "marc", "kind": "closed", "to": "closed"},
        {"at": "2025-03-21T10:00:00Z", "actor": "ana", "kind": "legal_hold", "to": "held"},
    ],
    "requests": [
        {
            "id": "r-1",
            "provider": "messagebird",
            "kind": "KIND_PERSONAL_GET",
            "stateReason": None,
            "createdAt": "2025-01-02T10:00:00Z",
            "callbackReceivedAt": "2025-01-02T10:00:05Z",
            "completedAt": None,
            "failedAt": None,
            "archive": {"storedAt": "2025-01-02T10:00:09Z"},
        }
    ],
}


def timeline():
    return case_timeline(CASE, dt.date(2025, 3, 25), lambda request_id: f"/ops/requests/{request_id}")


def test_the_case_lane_holds_receipt_deadline_changes_other_events_and_the_answer():
    case_lane = timeline().lanes[0]
    assert case_lane.name == "Case"
    assert [mark.kind for mark in case_lane.marks] == ["received", "change", "answer", "other"]
    assert "deadline extended to 2025-03-31 by marc" in case_lane.marks[1].label
    assert "legal hold by ana" in case_lane.marks[3].label


def test_each_request_has_a_lane_of_its_own_linked_to_its_page():
    lane = timeline().lanes[1]
    assert (lane.name, lane.href) == ("MessageBird · personal get", "/ops/requests/r-1")
    assert [mark.kind for mark in lane.marks] == ["sent", "verified", "stored"]


def test_events_seconds_apart_stay_apart_and_in_order():
    xs = [mark.x for mark in timeline().lanes[1].marks]
    assert all(later - earlier >= MIN_GAP for earlier, later in itertools.pairwise(xs))


def test_every_mark_and_line_is_inside_the_picture_and_in_time_order():
    drawn = timeline()
    xs = [mark.x for lane in drawn.lanes for mark in lane.marks] + [line.x for line in drawn.lines]
    assert all(LABELS <= x <= WIDTH - RIGHT for x in xs)
    lines = {line.kind: line.x for line in drawn.lines}
    assert lines["first-deadline"] < lines["target"] < lines["today"] < lines["deadline"]


def test_the_events_in_words_are_in_time_order():
    events = [event for _, event in timeline().events]
    assert events == sorted(events, key=lambda event: event.at) and len(events) == 7


HELD = {
    **CASE,
    "history": [
        *CASE["history"][:4],
        {"at": "2025-03-21T10:00:00Z", "actor": "ana", "kind": "legal_hold_placed", "reason": "claim 17"},
        {"at": "2025-03-22T10:00:00Z", "actor": "ana", "kind": "legal_hold_released", "reason": None},
        {"at": "2025-03-23T10:00:00Z", "actor": "marc", "kind": "legal_hold_placed", "reason": "inquiry"},
    ],
    "requests": [
        {
            **CASE["requests"][0],
            "archive": {
                "storedAt": "2025-01-02T10:00:09Z",
                "deletedAt": "2025-03-22T11:00:00Z",
                "deletionReceipt": {"deletedBy": "retention"},
            },
        }
    ],
}


def test_holds_placed_and_released_are_marks_on_the_case_lane_with_a_band_while_each_lasts():
    drawn = case_timeline(HELD, dt.date(2025, 3, 25))
    holds = [mark.label for mark in drawn.lanes[0].marks if mark.kind == "hold"]
    assert [label.split(",")[0] for label in holds] == [
        "legal hold placed by ana: claim 17",
        "legal hold released by ana",
        "legal hold placed by marc: inquiry",
    ]
    released, running = drawn.holds
    assert released.x1 < released.x2 <= running.x1 < running.x2 and released.y == drawn.lanes[0].y
    assert running.label == "legal hold by marc since 2025-03-23 10:00:00 UTC"
    assert running.x2 > next(line.x for line in drawn.lines if line.kind == "today")
    assert ("hold", "legal hold placed or released") in drawn.kinds


def test_a_deleted_archive_names_who_deleted_it():
    lane = case_timeline(HELD, dt.date(2025, 3, 25)).lanes[1]
    assert lane.marks[-1].kind == "deleted" and lane.marks[-1].label.startswith("archive deleted by retention, ")
