"""Request states: only the documented moves, each stamped and recorded."""

from __future__ import annotations

import pytest

from storage import lifecycle
from storage.errors import StorageError
from storage.models import ProcessorRequest


def new_request() -> ProcessorRequest:
    request = ProcessorRequest(id="r", provider="messagebird", kind="KIND_USER_GET")
    lifecycle.start(request)
    return request


def test_the_happy_path_stamps_every_state():
    request = new_request()
    for state in ("callback_received", "archiving", "completed"):
        lifecycle.move(request, state, reason=f"to {state}", callback_id=7)
    assert [t.to_state for t in request.transitions] == ["sent", "callback_received", "archiving", "completed"]
    assert request.callback_received_at <= request.archiving_at <= request.completed_at
    assert request.transitions[-1].from_state == "archiving"


@pytest.mark.parametrize(
    "path", [["completed", "failed"], ["completed", "sent"], ["archiving"], ["callback_received", "sent"]]
)
def test_moves_outside_the_table_are_refused(path):
    request, (*allowed, refused) = new_request(), path
    for state in allowed:
        lifecycle.move(request, state)
    with pytest.raises(StorageError) as error:
        lifecycle.move(request, refused)
    assert error.value.reason == "conflict"


def test_a_failed_request_can_be_retried_from_its_callback():
    request = new_request()
    lifecycle.move(request, "callback_received")
    lifecycle.move(request, "failed", reason="not a zip")
    assert (request.state, request.state_reason) == ("failed", "not a zip")
    lifecycle.move(request, "callback_received", reason="retry")
    assert request.failed_at is not None
