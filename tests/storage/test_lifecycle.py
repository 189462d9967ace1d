"""Request states: only the documented moves, each stamped and recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from storage import lifecycle
from storage.errors import StorageError
from storage.models import ProcessorRequest

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def new_request() -> ProcessorRequest:
    request = ProcessorRequest(id="r", provider="messagebird", kind="KIND_USER_GET")
    lifecycle.start(request, at=T0)
    return request


def test_the_happy_path_stamps_every_state():
    request = new_request()
    for n, state in enumerate(("callback_received", "archiving", "completed"), start=1):
        lifecycle.move(request, state, reason=f"to {state}", callback_id=7, at=T0 + n * MINUTE)
    assert [t.to_state for t in request.transitions] == ["sent", "callback_received", "archiving", "completed"]
    assert (request.callback_received_at, request.archiving_at, request.completed_at) == tuple(
        T0 + n * MINUTE for n in (1, 2, 3)
    )
    assert request.transitions[-1].from_state == "archiving"


def test_a_request_in_a_session_is_stamped_by_its_database_clock(database):
    database.clock.set(T0)
    with database.transaction() as session:
        request = ProcessorRequest(id="r-clock", provider="messagebird", kind="KIND_USER_GET")
        lifecycle.start(request, at=T0)
        session.add(request)
        database.clock.set(T0 + MINUTE)
        lifecycle.move(request, "callback_received")
    assert (request.callback_received_at, request.transitions[-1].at) == (T0 + MINUTE, T0 + MINUTE)


def test_a_request_in_no_session_needs_the_time_given():
    request = new_request()
    with pytest.raises(ValueError, match="at="):
        lifecycle.move(request, "callback_received")


@pytest.mark.parametrize(
    "path", [["completed", "failed"], ["completed", "sent"], ["archiving"], ["callback_received", "sent"]]
)
def test_moves_outside_the_table_are_refused(path):
    request, (*allowed, refused) = new_request(), path
    for state in allowed:
        lifecycle.move(request, state, at=T0)
    with pytest.raises(StorageError) as error:
        lifecycle.move(request, refused, at=T0)
    assert error.value.reason == "conflict"


def test_a_failed_request_can_be_retried_from_its_callback():
    request = new_request()
    lifecycle.move(request, "callback_received", at=T0)
    lifecycle.move(request, "failed", reason="not a zip", at=T0)
    assert (request.state, request.state_reason) == ("failed", "not a zip")
    lifecycle.move(request, "callback_received", reason="retry", at=T0)
    assert request.failed_at is not None
