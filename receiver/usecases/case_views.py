"""How a case looks on a given day: its deadline from the engine, its derived state, and its answer.

The deadline is never computed here: a ``Case`` row becomes the engine's inputs
(``deadline_of``) and ``deadlines`` answers, with the steps that explain it. The
state follows ``storage.case_registry.case_state``; lateness follows ``deadlines.is_late``
against ``deadlines.processor_target``, judged on the case's clock date (today,
or the day its clock stopped), the same rule ``storage.case_registry`` applies in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from deadlines import (
    Calendar,
    Deadline,
    Extension,
    Jurisdiction,
    Pause,
    Step,
    compute_deadline,
    days_left,
    explain,
    is_late,
    is_overdue,
    processor_target,
)
from receiver.usecases import records
from receiver.usecases.answers import (
    CaseDetail,
    CaseEventRecord,
    CaseRequest,
    CaseState,
    CaseSummary,
    DeadlineCalendar,
    DeadlineExtension,
    DeadlinePause,
    DeadlineRecord,
    DeadlineStep,
    LegalHold,
    Right,
    iso_day,
    iso_time,
)
from receiver.usecases.answers import Jurisdiction as JurisdictionName
from storage import case_registry
from storage.models import Case, CaseEvent, CasePause, ProcessorRequest


def calendar_of(case: Case) -> Calendar:
    """The calendar the case was opened on (kept with the case, whatever the settings say later)."""
    return Calendar(Jurisdiction(case.jurisdiction), case.calendar_country, case.calendar_subdivision)


def pauses_of(case: Case) -> tuple[Pause, ...]:
    return tuple(Pause(p.started_on, p.resumed_on, p.reason) for p in case.pauses)


def extension_of(case: Case) -> Extension | None:
    if case.extension_informed_on is None:
        return None
    return Extension(case.extension_informed_on, case.extension_reason or "")


def deadline_of(
    case: Case, *, today: dt.date, pauses: Sequence[Pause] | None = None, extension: Extension | None = None
) -> Deadline:
    """The engine's deadline for ``case`` on ``today`` (an open pause counted up to it); ``DeadlineError`` if none."""
    return compute_deadline(
        received_on=case.received_on,
        calendar=calendar_of(case),
        clock_starts_on=case.clock_starts_on,
        pauses=pauses_of(case) if pauses is None else pauses,
        extension=extension_of(case) if extension is None else extension,
        today=today,
    )


def clock_date(case: Case, today: dt.date) -> dt.date:
    """The day lateness is judged on: today, or the day the clock stopped while it is stopped."""
    return case.paused_since if case.paused_since is not None else today


@dataclass(frozen=True)
class CaseView:
    """A case on ``today``: its deadline in force, its processors' target, its state and urgency."""

    case: Case
    today: dt.date
    deadline: Deadline
    target_on: dt.date
    #: The target and day a request's lateness is judged by (see the module's docstring).
    judged_target_on: dt.date
    judged_on: dt.date
    state: str
    request_count: int

    @property
    def closed(self) -> bool:
        return self.case.responded_on is not None

    @property
    def overdue(self) -> bool:
        running = not self.closed and self.case.paused_since is None
        return running and is_overdue(self.deadline.due_on, today=self.today)

    def is_request_late(self, state: str) -> bool:
        ended = state in case_registry.ENDED_STATES
        return not self.closed and is_late(self.judged_target_on, today=self.judged_on, ended=ended)


def view_case(case: Case, request_states: Sequence[str], *, today: dt.date, margin_days: int) -> CaseView:
    """``case`` as it stands on ``today``, its requests being in ``request_states``.

    A closed case is seen as it stood the day it was answered: a clock stopped then
    stops counting there. A clock stopped "today" by a server whose clock runs ahead
    counts from its own day, never from before it.
    """
    today = max(today, case.paused_since or today)
    deadline = deadline_of(case, today=case.responded_on or today)
    judged_on = clock_date(case, today)
    judged = deadline if judged_on == today else deadline_of(case, today=judged_on)
    judged_target_on = processor_target(judged, margin_days=margin_days)
    any_late = case.responded_on is None and any(
        is_late(judged_target_on, today=judged_on, ended=state in case_registry.ENDED_STATES)
        for state in request_states
    )
    state = case_registry.case_state(
        closed=case.responded_on is not None, request_states=request_states, any_late=any_late
    )
    return CaseView(
        case,
        today,
        deadline,
        processor_target(deadline, margin_days=margin_days),
        judged_target_on,
        judged_on,
        state,
        len(request_states),
    )


# -- the answers ----------------------------------------------------------------------------


def case_summary(view: CaseView) -> CaseSummary:
    """What a list shows of a case: who, which right, the deadline in force and how urgent it is."""
    case, deadline = view.case, view.deadline
    return CaseSummary.model_construct(
        id=case.id,
        subject_ref=case.subject_ref,
        right=cast(Right, case.right),
        jurisdiction=cast(JurisdictionName, case.jurisdiction),
        received_on=iso_day(case.received_on),
        clock_starts_on=iso_day(case.clock_starts_on),
        state=cast(CaseState, view.state),
        due_on=iso_day(deadline.due_on),
        original_due_on=iso_day(deadline.original_due_on),
        days_left=None if view.closed else days_left(deadline.due_on, today=view.today),
        overdue=view.overdue,
        target_on=iso_day(view.target_on),
        extended=deadline.is_extended,
        paused=case.paused_since is not None,
        paused_since=iso_day(case.paused_since),
        request_count=view.request_count,
        responded_on=iso_day(case.responded_on),
        delivered_by=case.delivered_by,
        answered_in_time=None if case.responded_on is None else case.responded_on <= deadline.due_on,
        notes=case.notes,
        created_at=iso_time(case.created_at),
        created_by=case.created_by,
        closed_at=iso_time(case.closed_at),
        closed_by=case.closed_by,
        legal_hold=legal_hold_of(case),
    )


def summary_fields(view: CaseView) -> dict[str, Any]:
    """``case_summary``'s fields by name, for the answers that extend it (``CaseDetail``)."""
    return dict(case_summary(view))


def case_detail(view: CaseView, requests: Sequence[ProcessorRequest]) -> CaseDetail:
    """The whole case: summary, the deadline with its explanation, each request with its target, the history."""
    names = request_names(requests)
    return CaseDetail.model_construct(
        **summary_fields(view),
        deadline=deadline_record(view.deadline),
        requests=[
            CaseRequest.model_construct(
                **records.record_fields(r), target_on=iso_day(view.target_on), late=view.is_request_late(r.state)
            )
            for r in requests
        ],
        history=[event_record(event, names) for event in view.case.events],
    )


def deadline_record(deadline: Deadline) -> DeadlineRecord:
    calendar = deadline.calendar
    extension = deadline.extension
    return DeadlineRecord.model_construct(
        due_on=iso_day(deadline.due_on),
        original_due_on=iso_day(deadline.original_due_on),
        explanation=explain(deadline.steps),
        steps=[step_record(step) for step in deadline.steps],
        calendar=DeadlineCalendar.model_construct(
            jurisdiction=cast(JurisdictionName, str(calendar.jurisdiction)),
            country=calendar.country,
            subdivision=calendar.subdivision,
        ),
        paused_days=deadline.paused_days,
        pauses=[
            DeadlinePause.model_construct(
                started_on=iso_day(p.started_on), resumed_on=iso_day(p.resumed_on), reason=p.reason
            )
            for p in deadline.pauses
        ],
        extension=None
        if extension is None
        else DeadlineExtension.model_construct(informed_on=iso_day(extension.informed_on), reason=extension.reason),
    )


def step_record(step: Step) -> DeadlineStep:
    return DeadlineStep.model_construct(
        rule=str(step.rule),
        source=step.source,
        from_date=iso_day(step.from_date),
        to_date=iso_day(step.to_date),
        note=step.note,
    )


def request_names(requests: Sequence[ProcessorRequest]) -> dict[str, str]:
    """Each request's id now under every name it had: its id, and the intent id it was sent under.

    A request we send joins its case under our intent id (``intent-...``), before the
    provider has answered with its own; the history keeps the name it was recorded under.
    """
    names = {request.intent_id: request.id for request in requests if request.intent_id}
    names.update({request.id: request.id for request in requests})
    return names


def event_record(event: CaseEvent, names: Mapping[str, str]) -> CaseEventRecord:
    """One history entry as recorded; a request added is named by its id now too (``requestId``, from ``names``)."""
    added = names.get(event.to_value or "") if event.kind == case_registry.REQUEST_ADDED else None
    return CaseEventRecord.model_construct(
        at=iso_time(event.at),
        actor=event.actor,
        kind=event.kind,
        changed=event.changed,
        from_value=event.from_value,
        to_value=event.to_value,
        reason=event.reason,
        request_id=added,
    )


def legal_hold_of(case: Case) -> LegalHold | None:
    """The hold on a case, or None."""
    if case.legal_hold_since is None:
        return None
    return LegalHold.model_construct(
        since=iso_time(case.legal_hold_since), by=case.legal_hold_by, reason=case.legal_hold_reason
    )


def pause_row(pause: Pause) -> CasePause:
    return CasePause(started_on=pause.started_on, resumed_on=pause.resumed_on, reason=pause.reason)
