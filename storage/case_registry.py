"""The case registry: data subject requests, their requests, and how urgent each case is.

A case's state is never stored. It follows the case's processor requests and is
derived when read, so the callback's hot path never touches a case:

    open ──▶ waiting_on_processors ──▶ ready ──▶ closed
                 │        ▲
                 ▼        │ (a retry)
            needs_attention: a request failed, or is past its target

``case_state`` derives one case's state in Python; ``state_is`` says the same in
SQL, so that a list can be filtered and paged by state. They follow the same
rules, in this order: closed (``responded_on`` is set); open (no request yet);
needs attention (a request failed, or one that has not ended is late); ready
(every request completed); otherwise waiting on the processors.

Late (``deadlines.targets``): a request that has not ended is late once the
case's clock date is past its target, the deadline less ``margin_days`` but not
before the clock started. The clock date is today while the clock runs; while it
is stopped, the day it stopped: a stopped clock makes nothing late or overdue,
and ``due_on`` is stored as the deadline stood that day.

Urgency (``list_page``): overdue cases first, then the running ones, then those
whose clock is stopped, then the closed ones; by due date within each.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Date, Integer, and_, case, exists, func, literal, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.expression import FunctionElement

from storage import lifecycle
from storage.errors import StorageError
from storage.models import Case, CaseEvent, ProcessorRequest

OPEN = "open"
WAITING = "waiting_on_processors"
READY = "ready"
NEEDS_ATTENTION = "needs_attention"
CLOSED = "closed"
STATES = (OPEN, WAITING, READY, NEEDS_ATTENTION, CLOSED)

RIGHTS = ("access", "erasure", "rectification", "restriction", "portability", "objection")
JURISDICTIONS = ("EU", "UK")
#: A request has ended when nothing more will happen to it without ops.
ENDED_STATES = (lifecycle.COMPLETED, lifecycle.FAILED)

#: The actor of what the service does on its own (a case event always names one).
SERVICE = "service"
#: The history entries of a request joining a case, and of one that was not made after all.
REQUEST_ADDED, REQUEST_REFUSED = "request_added", "request_refused"

#: Urgency ranks, most urgent first (``urgency_rank``).
RANK_OVERDUE, RANK_RUNNING, RANK_PAUSED, RANK_CLOSED = range(4)


def new_case_id() -> str:
    return "case-" + uuid.uuid4().hex[:24]


def case_state(*, closed: bool, request_states: Collection[str], any_late: bool) -> str:
    """The state of one case, from whether it is closed, its requests' states, and whether one is late."""
    if closed:
        return CLOSED
    if not request_states:
        return OPEN
    if any_late or lifecycle.FAILED in request_states:
        return NEEDS_ATTENTION
    if all(state == lifecycle.COMPLETED for state in request_states):
        return READY
    return WAITING


def find(session: Session, case_id: str, *, for_update: bool = False) -> Case | None:
    statement = select(Case).where(Case.id == case_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def find_whole(session: Session, case_id: str) -> Case | None:
    """The case with its pauses and history loaded."""
    statement = select(Case).where(Case.id == case_id).options(selectinload(Case.pauses), selectinload(Case.events))
    return session.scalars(statement).first()


def requests_of(session: Session, case_id: str) -> Sequence[ProcessorRequest]:
    statement = select(ProcessorRequest).where(ProcessorRequest.case_id == case_id)
    return session.scalars(statement.order_by(ProcessorRequest.created_at, ProcessorRequest.id)).all()


def request_states(session: Session, case_ids: Collection[str]) -> dict[str, list[str]]:
    """The states of each case's requests, for the cases of one page."""
    found: dict[str, list[str]] = defaultdict(list)
    if case_ids:
        statement = select(ProcessorRequest.case_id, ProcessorRequest.state).where(
            ProcessorRequest.case_id.in_(case_ids)
        )
        for case_id, state in session.execute(statement):
            assert case_id is not None  # selected by case_id
            found[case_id].append(state)
    return found


@dataclass(frozen=True)
class Progress:
    """Where one processor request of a case stands: which processor, which kind, which state."""

    request_id: str
    provider: str
    kind: str
    state: str


def request_progress(session: Session, case_ids: Collection[str]) -> dict[str, list[Progress]]:
    """Each case's requests as ``Progress``, oldest first, for the cases of one page."""
    found: dict[str, list[Progress]] = defaultdict(list)
    if case_ids:
        columns = (
            ProcessorRequest.case_id,
            ProcessorRequest.id,
            ProcessorRequest.provider,
            ProcessorRequest.kind,
            ProcessorRequest.state,
        )
        statement = select(*columns).where(ProcessorRequest.case_id.in_(case_ids))
        for case_id, *progress in session.execute(statement.order_by(ProcessorRequest.created_at, ProcessorRequest.id)):
            assert case_id is not None  # selected by case_id
            found[case_id].append(Progress(*progress))
    return found


def add_request(session: Session, case_id: str, request: ProcessorRequest, *, actor: str | None) -> None:
    """Make ``request`` part of the case, which must exist and be open; its history says so.

    The case's row is locked, so that it cannot be closed while a request joins it.
    """
    case_row = find(session, case_id, for_update=True)
    if case_row is None:
        raise StorageError("not_found", "no case with this id")
    if case_row.responded_on is not None:
        raise StorageError("conflict", "the case is closed")
    request.case_id = case_id
    record_event(
        case_row,
        actor=actor or SERVICE,
        kind=REQUEST_ADDED,
        changed="requests",
        to_value=request.id,
        reason=f"{request.provider} {request.kind}",
    )


def refuse_request(
    session: Session, case_id: str, request: ProcessorRequest, *, actor: str | None, reason: str | None
) -> None:
    """The request ``add_request`` recorded was not made (the provider refused it); the history says so."""
    case_row = find(session, case_id, for_update=True)
    if case_row is not None:
        record_event(
            case_row,
            actor=actor or SERVICE,
            kind=REQUEST_REFUSED,
            changed="requests",
            from_value=request.id,
            reason=f"{request.provider} {request.kind}: {reason or 'refused'}",
        )


def record_event(
    case_row: Case,
    *,
    actor: str,
    kind: str,
    changed: str | None = None,
    from_value: object = None,
    to_value: object = None,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> CaseEvent:
    """Add one entry to the case's history (dates are written as ISO dates)."""
    event = CaseEvent(
        actor=actor,
        kind=kind,
        changed=changed,
        from_value=_shown(from_value),
        to_value=_shown(to_value),
        reason=reason,
        **({"at": at} if at else {}),
    )
    case_row.events.append(event)
    return event


def _shown(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:200]


# -- the rules in SQL ----------------------------------------------------------------------


class days_after(FunctionElement[dt.date]):
    """``day + days`` as an SQL date, for a whole number of days known when the statement is built."""

    type = Date()
    inherit_cache = True


@compiles(days_after)
def _days_after_default(element: days_after, compiler: Any, **kw: Any) -> str:
    day, days = list(element.clauses)
    return f"({compiler.process(day, **kw)} + CAST({compiler.process(days, **kw)} AS INTEGER))"


@compiles(days_after, "sqlite")
def _days_after_sqlite(element: days_after, compiler: Any, **kw: Any) -> str:
    day, days = list(element.clauses)
    return f"date({compiler.process(day, **kw)}, CAST({compiler.process(days, **kw)} AS INTEGER) || ' days')"


def _requests_where(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(ProcessorRequest.case_id == Case.id, *conditions)


def _clock_date(today: dt.date) -> ColumnElement[dt.date]:
    """The day lateness is judged on: today while the clock runs, the day it stopped while it is stopped."""
    return func.coalesce(Case.paused_since, literal(today, Date))


def _past_target(today: dt.date, margin_days: int) -> ColumnElement[bool]:
    """The case's clock date is past its processor target: ``deadlines.target_on`` of the stored columns, in SQL.

    ``target_on(due_on, counted_from, margin) < clock date`` row by row (the clock date is a column while the
    clock is stopped): ``due_on - margin < clock date`` and ``clock start < clock date``. A test holds the two
    to the same answers.
    """
    clock = _clock_date(today)
    counted_from = func.coalesce(Case.clock_starts_on, Case.received_on)
    return and_(Case.due_on < days_after(clock, literal(margin_days, Integer)), counted_from < clock)


def late_condition(*, today: dt.date, margin_days: int) -> ColumnElement[bool]:
    """A request of the case that has not ended is past its target (see the module's docstring)."""
    return and_(_requests_where(ProcessorRequest.state.not_in(ENDED_STATES)), _past_target(today, margin_days))


def state_is(state: str, *, today: dt.date, margin_days: int) -> ColumnElement[bool]:
    """``case_state`` in SQL: the cases in ``state`` on ``today``."""
    closed = Case.responded_on.is_not(None)
    has_requests = _requests_where()
    troubled = or_(
        _requests_where(ProcessorRequest.state == lifecycle.FAILED),
        late_condition(today=today, margin_days=margin_days),
    )
    all_completed = not_(_requests_where(ProcessorRequest.state != lifecycle.COMPLETED))
    conditions = {
        CLOSED: closed,
        OPEN: and_(not_(closed), not_(has_requests)),
        NEEDS_ATTENTION: and_(not_(closed), has_requests, troubled),
        READY: and_(not_(closed), has_requests, not_(troubled), all_completed),
        WAITING: and_(not_(closed), has_requests, not_(troubled), not_(all_completed)),
    }
    return conditions[state]


def overdue_condition(today: dt.date) -> ColumnElement[bool]:
    """Open, its clock running, and today past its deadline (``deadlines.is_overdue``)."""
    return and_(Case.responded_on.is_(None), Case.paused_since.is_(None), Case.due_on < today)


def urgency_rank(today: dt.date) -> ColumnElement[int]:
    return case(
        (Case.responded_on.is_not(None), RANK_CLOSED),
        (Case.paused_since.is_not(None), RANK_PAUSED),
        (Case.due_on < today, RANK_OVERDUE),
        else_=RANK_RUNNING,
    )


# -- lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    """What ``GET /api/cases`` may ask for; None means any.

    ``due_before`` keeps the open cases whose clock runs and whose deadline is
    before that day (overdue ones included): a stopped clock has no fixed deadline.
    """

    state: str | None = None
    overdue: bool | None = None
    due_before: dt.date | None = None
    right: str | None = None
    jurisdiction: str | None = None
    #: Part of the ``subjectRef``, in any case (the console's search).
    subject_ref_contains: str | None = None


@dataclass(frozen=True)
class Page:
    cases: Sequence[Case]
    next_cursor: str | None


def list_page(
    session: Session,
    wanted: CaseFilter,
    *,
    today: dt.date,
    margin_days: int,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Cases most urgent first, ``limit`` at a time; ``cursor`` continues a previous page."""
    rank = urgency_rank(today)
    statement = select(Case, rank).where(*_filters(wanted, today=today, margin_days=margin_days))
    if cursor:
        after_rank, after_due, after_id = decode_cursor(cursor)
        statement = statement.where(
            or_(
                rank > after_rank,
                and_(rank == after_rank, Case.due_on > after_due),
                and_(rank == after_rank, Case.due_on == after_due, Case.id > after_id),
            )
        )
    rows = session.execute(statement.order_by(rank, Case.due_on, Case.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([row[0] for row in rows], encode_cursor(*rows[-1]) if more else None)


def _filters(wanted: CaseFilter, *, today: dt.date, margin_days: int) -> list[ColumnElement[bool]]:
    filters = []
    if wanted.state is not None:
        filters.append(state_is(wanted.state, today=today, margin_days=margin_days))
    if wanted.overdue is not None:
        overdue = overdue_condition(today)
        filters.append(overdue if wanted.overdue else not_(overdue))
    if wanted.due_before is not None:
        filters += [Case.responded_on.is_(None), Case.paused_since.is_(None), Case.due_on < wanted.due_before]
    if wanted.right is not None:
        filters.append(Case.right == wanted.right)
    if wanted.jurisdiction is not None:
        filters.append(Case.jurisdiction == wanted.jurisdiction)
    if wanted.subject_ref_contains:
        filters.append(func.lower(Case.subject_ref).contains(wanted.subject_ref_contains.lower(), autoescape=True))
    return filters


def encode_cursor(case_row: Case, rank: int) -> str:
    raw = json.dumps([rank, case_row.due_on.isoformat(), case_row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, dt.date, str]:
    """The position a cursor names; ``ValueError`` for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, due_on, last_id = json.loads(raw)
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise ValueError("not a rank")
        return rank, dt.date.fromisoformat(due_on), str(last_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("not a valid cursor") from error


# -- what the deadline check looks for -----------------------------------------------------


def running_due_by(session: Session, last_day: dt.date) -> Sequence[Case]:
    """Open cases whose clock runs and whose deadline is on or before ``last_day`` (overdue ones too), soonest first."""
    statement = select(Case).where(Case.responded_on.is_(None), Case.paused_since.is_(None), Case.due_on <= last_day)
    return session.scalars(statement.order_by(Case.due_on, Case.id)).all()


def requests_needing_attention(
    session: Session, *, today: dt.date, margin_days: int
) -> Sequence[tuple[ProcessorRequest, Case]]:
    """The requests of open cases that failed or are past their target, with their case, by the case's deadline."""
    late = and_(ProcessorRequest.state.not_in(ENDED_STATES), _past_target(today, margin_days))
    statement = (
        select(ProcessorRequest, Case)
        .join(Case, ProcessorRequest.case_id == Case.id)
        .where(Case.responded_on.is_(None), or_(ProcessorRequest.state == lifecycle.FAILED, late))
        .order_by(Case.due_on, Case.id, ProcessorRequest.created_at, ProcessorRequest.id)
    )
    return [(request, case_row) for request, case_row in session.execute(statement)]
