"""What MessageBird's listed state means for a request still waiting for its callback (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from receiver.providers.messagebird import Listed
from receiver.jobs.reconcile import FAIL, MISSING, WAIT, assess

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def listed(state: str, *, updated_ago: float | None = 0) -> Listed:
    updated = None if updated_ago is None else NOW - dt.timedelta(seconds=updated_ago)
    return Listed("r1", "KIND_PERSONAL_GET", state, None, NOW - dt.timedelta(hours=1), updated)


@pytest.mark.parametrize(
    ("state", "updated_ago", "verdict"),
    [
        ("STATE_SENT", 3600, WAIT),
        ("STATE_FAILED", 0, FAIL),
        ("STATE_CALLBACK_OK", 0, MISSING),
        ("STATE_CALLBACK_FAIL", 0, MISSING),
        ("STATE_DONE", 10, WAIT),
        ("STATE_DONE", 300, MISSING),
        ("STATE_DONE", None, MISSING),
        ("STATE_SOMETHING_NEW", 9999, WAIT),
    ],
)
def test_a_state_and_its_age_decide(state, updated_ago, verdict):
    assert assess(listed(state, updated_ago=updated_ago), now=NOW, grace_seconds=300) == verdict
