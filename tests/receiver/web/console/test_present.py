"""The days-left badge: "overdue" in words when it is, red when overdue or under a quarter of the time left."""

from __future__ import annotations

import pytest

from receiver.web.console.present import DANGER, INFO, NEUTRAL, WARNING, age, case_history, deadline_badge, size


def case(**changes):
    """A running case received 2025-01-01, due 2025-02-01 (31 days of time)."""
    return {
        "respondedOn": None,
        "answeredInTime": None,
        "paused": False,
        "pausedSince": None,
        "overdue": False,
        "daysLeft": 20,
        "dueOn": "2025-02-01",
        "receivedOn": "2025-01-01",
        "clockStartsOn": None,
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "text", "tone"),
    [
        ({"daysLeft": 20}, "20 days left", INFO),
        ({"daysLeft": 8}, "8 days left", INFO),  # 8 × 4 = 32 ≥ 31: not under a quarter
        ({"daysLeft": 7}, "7 days left", DANGER),  # 7 × 4 = 28 < 31
        ({"daysLeft": 1}, "1 day left", DANGER),
        ({"daysLeft": 0}, "due today", DANGER),
        ({"daysLeft": -1, "overdue": True}, "overdue 1 day", DANGER),
        ({"daysLeft": -12, "overdue": True}, "overdue 12 days", DANGER),
        ({"paused": True, "pausedSince": "2025-01-10", "daysLeft": 2}, "clock stopped", NEUTRAL),
        ({"respondedOn": "2025-01-30", "answeredInTime": True}, "answered", NEUTRAL),
        ({"respondedOn": "2025-02-03", "answeredInTime": False}, "answered late", WARNING),
    ],
)
def test_the_badge_says_how_urgent_a_case_is(changes, text, tone):
    badge = deadline_badge(case(**changes))
    assert (badge.text, badge.tone) == (text, tone)


def test_a_later_clock_start_shortens_the_time_a_quarter_is_taken_of():
    # clock from 2025-01-25: 7 days of time, so 2 days left is more than a quarter
    assert deadline_badge(case(clockStartsOn="2025-01-25", daysLeft=2)).tone == INFO


@pytest.mark.parametrize(
    ("count", "shown"),
    [(22, "22 bytes"), (1536, "1.5 KiB (1,536 bytes)"), (5 * 1024**3, "5.0 GiB (5,368,709,120 bytes)")],
)
def test_sizes_read_for_people(count, shown):
    assert size(count) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "5 s"), (420, "7 min"), (7500, "2 h 5 min"), (7200, "2 h"), (90000, "1 day"), (259200, "3 days")],
)
def test_ages_read_for_people(seconds, shown):
    assert age(seconds) == shown


def test_the_history_shows_each_archive_deletion_in_time_order_with_its_receipt():
    receipt = {"deletedAt": "2025-03-01T10:00:00.5Z", "deletedBy": "retention", "policy": "ARCHIVE_RETENTION_DAYS=30"}
    shown = case_history(
        {
            "history": [
                {"at": "2025-01-01T09:00:00Z", "kind": "opened"},
                {"at": "2025-03-01T10:00:00Z", "kind": "closed"},
                {"at": "2025-03-02T09:00:00Z", "kind": "legal_hold_placed"},
            ],
            "requests": [
                {"id": "r-1", "archive": {"deletionReceipt": receipt}},
                {"id": "r-2", "archive": None},
                {"id": "r-3", "archive": {"deletionReceipt": None}},
            ],
        }
    )
    assert [entry["kind"] for entry in shown] == ["opened", "closed", "archive_deleted", "legal_hold_placed"]
    assert {k: shown[2][k] for k in ("actor", "reason", "requestId", "from", "to")} == {
        "actor": "retention",
        "reason": "ARCHIVE_RETENTION_DAYS=30",
        "requestId": "r-1",
        "from": "stored",
        "to": "deleted",
    }
