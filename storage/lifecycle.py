"""The states a request moves through, and the one function that moves it.

    sending -> sent -> callback_received -> archiving -> completed
       \\---------\\------------\\---------------\\------> failed (with a reason)

A request we send starts ``sending``: the intent, recorded before the provider is
called, under an id of our own (``intent-...``) because the provider's id is not
known yet. The provider's answer moves it to ``sent`` under the provider's id
(``registry.record_answer``); an answer that was lost is found again in the
provider's own records by reconciliation. A request registered from elsewhere
starts ``sent``.

Each move is written as a ``Transition`` row beside the request, so the record
shows when and why (and on which callback's authority) every state was reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import object_session

from storage.clock import clock_of
from storage.errors import StorageError
from storage.models import ProcessorRequest, Transition

SENDING = "sending"
SENT = "sent"
CALLBACK_RECEIVED = "callback_received"
ARCHIVING = "archiving"
COMPLETED = "completed"
FAILED = "failed"
STATES = (SENDING, SENT, CALLBACK_RECEIVED, ARCHIVING, COMPLETED, FAILED)
#: The states a request may begin in: ``sending`` (we send it) or ``sent`` (registered from elsewhere).
FIRST_STATES = (SENDING, SENT)

_ALLOWED = {
    SENDING: {SENT, FAILED},
    SENT: {CALLBACK_RECEIVED, COMPLETED, FAILED},
    CALLBACK_RECEIVED: {ARCHIVING, COMPLETED, FAILED},
    ARCHIVING: {ARCHIVING, CALLBACK_RECEIVED, COMPLETED, FAILED},
    FAILED: {CALLBACK_RECEIVED, SENT, COMPLETED},
    COMPLETED: set(),
}

_TIMESTAMP_COLUMN = {
    CALLBACK_RECEIVED: "callback_received_at",
    ARCHIVING: "archiving_at",
    COMPLETED: "completed_at",
    FAILED: "failed_at",
}


def move(
    request: ProcessorRequest,
    to_state: str,
    *,
    reason: str | None = None,
    callback_id: int | None = None,
    at: dt.datetime | None = None,
    actor: str | None = None,
) -> Transition:
    """Move ``request`` to ``to_state``, stamping the time and recording the transition (and the operator who
    caused it: none when the service moved it on its own). ``at`` defaults to now by the clock of the
    request's session."""
    check_move(request.state, to_state)
    at = at or _now_for(request)
    transition = Transition(
        from_state=request.state, to_state=to_state, at=at, reason=reason, callback_id=callback_id, actor=actor
    )
    request.transitions.append(transition)
    request.state = to_state
    request.state_reason = reason
    request.updated_at = at
    column = _TIMESTAMP_COLUMN.get(to_state)
    if column:
        setattr(request, column, at)
    return transition


def check_move(from_state: str, to_state: str) -> None:
    """``StorageError("conflict")`` unless a request may go from ``from_state`` to ``to_state``."""
    if to_state not in _ALLOWED.get(from_state, set()):
        raise StorageError("conflict", f"a request cannot go from {from_state} to {to_state}")


@dataclass(frozen=True)
class Move:
    """One step of a request's way: the state it goes to, and why."""

    to_state: str
    reason: str | None = None


def moves_as_rows(
    from_state: str, moves: Sequence[Move], *, callback_id: int | None, at: dt.datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The request's new column values and the ``transitions`` rows for ``moves``, checked one by one.

    For paths that write with Core statements instead of the ORM (the callback's):
    the same rules and the same columns as ``move``.
    """
    columns: dict[str, Any] = {"updated_at": at}
    rows = []
    for step in moves:
        check_move(from_state, step.to_state)
        rows.append(
            {
                "from_state": from_state,
                "to_state": step.to_state,
                "at": at,
                "reason": step.reason,
                "callback_id": callback_id,
            }
        )
        columns.update(state=step.to_state, state_reason=step.reason)
        if step.to_state in _TIMESTAMP_COLUMN:
            columns[_TIMESTAMP_COLUMN[step.to_state]] = at
        from_state = step.to_state
    return columns, rows


def start(
    request: ProcessorRequest,
    *,
    at: dt.datetime | None = None,
    reason: str | None = None,
    state: str = SENT,
    actor: str | None = None,
) -> None:
    """Give a new request its first state (``sent``, or ``sending`` for an intent) with a transition from nothing."""
    if state not in FIRST_STATES:
        raise StorageError("conflict", f"a request cannot begin in {state}")
    at = at or _now_for(request)
    request.state = state
    request.created_at = request.updated_at = at
    request.transitions.append(Transition(from_state=None, to_state=state, at=at, reason=reason, actor=actor))


def _now_for(request: ProcessorRequest) -> dt.datetime:
    session = object_session(request)
    if session is None:
        raise ValueError("a request in no session is moved at a time given (at=)")
    return clock_of(session).now()
