"""Cases: one data subject request, its deadline, and every processor's part in answering it.

``POST /api/cases`` and ``flask cases create`` open a case; its deadline comes
from the engine (``deadlines``) on the calendar the settings name
(``DEADLINE_UK_SUBDIVISION``, ``DEADLINE_EU_NEXT_WORKING_DAY``), kept with the
case. Extending, stopping and restarting the clock go through the engine's own
checks (``DeadlineError``: 409 for a conflict of state or timing, 400 for input
that can never be right), and every change to the deadline is an entry in the
case's history naming its actor. Closing needs every request ended, or an
override with a reason.

A case's way, from ``POST /api/cases`` to a ``case.due_soon`` notification: ``open_case``
asks the engine for the deadline (``case_views.deadline_of``: the case's dates in,
``deadlines.compute_deadline`` out), stores it (``due_on``) with an ``opened`` entry,
and answers ``case_views.case_detail``; each change stores it again. The deadline
check (``receiver.usecases.alerts``) reads the stored ``due_on`` alone:
``case.due_soon`` at each ``NOTIFY_DAYS_BEFORE`` threshold, ``case.overdue`` after.

"Today" is the service's clock (``services.clock``) as a UTC date, unless a
caller passes ``today``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from deadlines import Calendar, DeadlineError, Extension, check_extension_allowed, explain, pause_clock, resume_clock
from receiver.services import Services
from receiver.usecases import sending
from receiver.usecases.answers import CaseDetail, CasePage
from receiver.usecases.case_views import (
    CaseView,
    case_detail,
    case_summary,
    deadline_of,
    pause_row,
    pauses_of,
    view_case,
)
from receiver.usecases.documents import (
    CaseDocument,
    CloseDocument,
    ExtendDocument,
    PauseDocument,
    ResumeDocument,
    parse,
)
from receiver.usecases.errors import UseCaseError
from storage import case_registry
from storage.case_registry import CaseFilter as CaseFilter  # the criteria ``list_cases`` takes, named for its adapters
from storage.models import Case

OPENED, EXTENDED, PAUSED, RESUMED, CLOSED = "opened", "extended", "paused", "resumed", "closed"
#: GDPR Art. 99(2): the Regulation "shall apply from 25 May 2018". No request under it (nor under the UK GDPR,
#: which carried it on) was received before that day.
GDPR_APPLIES_FROM = dt.date(2018, 5, 25)


#: The document parameter behind each of the engine's refusals of input, where there is one.
_PARAMETER_OF_REASON = {
    "clock_start_uk_only": "clockStartsOn",
    "clock_start_before_receipt": "clockStartsOn",
    "extension_needs_reason": "reason",
    "informed_before_receipt": "informedOn",
    "informed_after_first_deadline": "informedOn",
    "pause_before_clock_start": "date",
    "pause_after_today": "date",
    "resume_before_pause": "date",
}


def deadline_refusal(error: DeadlineError) -> UseCaseError:
    """The engine's refusal as the use cases' error: a conflict of state or timing, or input never right."""
    return UseCaseError(
        "conflict" if error.is_conflict else "invalid",
        error.message,
        reason=error.reason,
        parameter=_PARAMETER_OF_REASON.get(error.reason),
    )


@contextmanager
def _engine_refusals() -> Iterator[None]:
    try:
        yield
    except DeadlineError as error:
        raise deadline_refusal(error) from None


def _not_after_today(day: dt.date, today: dt.date, parameter: str) -> None:
    if day > today:
        raise UseCaseError(
            "invalid",
            f"{parameter} cannot be after today ({today.isoformat()})",
            reason="date_in_future",
            parameter=parameter,
        )


def _not_before_the_gdpr(day: dt.date, parameter: str) -> None:
    """A request received before the GDPR applied (Art. 99(2)) was not made under it: 2018-05-24 is refused."""
    if day < GDPR_APPLIES_FROM:
        raise UseCaseError(
            "invalid",
            f"{parameter} cannot be before {GDPR_APPLIES_FROM.isoformat()}, the day the GDPR applied (Art. 99(2))",
            reason="before_gdpr_applied",
            parameter=parameter,
        )


# -- opening and reading -------------------------------------------------------------------


def open_case(services: Services, document: Any, *, actor: str, today: dt.date | None = None) -> CaseDetail:
    """Validate and open a case; its detail (deadline, explanation, history)."""
    today = today or services.clock.today()
    parsed = parse(CaseDocument, document)
    _not_before_the_gdpr(parsed.received_on, "receivedOn")
    _not_after_today(parsed.received_on, today, "receivedOn")
    if parsed.clock_starts_on is not None:
        _not_after_today(parsed.clock_starts_on, today, "clockStartsOn")
    with _engine_refusals():
        case = _new_case(services, parsed, actor=actor)
        deadline = deadline_of(case, today=today, pauses=())
    case.due_on, case.original_due_on = deadline.due_on, deadline.original_due_on
    case_registry.record_event(
        case, actor=actor, kind=OPENED, changed="dueOn", to_value=deadline.due_on, reason=explain(deadline.steps)[:1000]
    )
    with services.database.transaction() as session:
        session.add(case)
        session.flush()
        return case_detail(_view(services, case, [], today), [])


def _new_case(services: Services, parsed: CaseDocument, *, actor: str) -> Case:
    """The case's row, on the calendar the settings name today (kept with the case from now on)."""
    settings = services.settings
    calendar = Calendar.for_jurisdiction(
        parsed.jurisdiction,
        uk_subdivision=settings.deadline_uk_subdivision,
        eu_country=settings.deadline_eu_next_working_day,
    )
    return Case(
        id=case_registry.new_case_id(),
        subject_ref=parsed.subject_ref,
        right=parsed.right,
        jurisdiction=parsed.jurisdiction,
        received_on=parsed.received_on,
        clock_starts_on=parsed.clock_starts_on,
        notes=parsed.notes,
        calendar_country=calendar.country,
        calendar_subdivision=calendar.subdivision,
        created_by=actor,
    )


def show_case(services: Services, case_id: str, *, today: dt.date | None = None) -> CaseDetail:
    """The case, its requests each with its target and whether late, its deadline explained, its history."""
    today = today or services.clock.today()
    with services.database.transaction() as session:
        case = case_registry.find_whole(session, case_id)
        if case is None:
            raise UseCaseError("not_found", "no case with this id")
        requests = case_registry.requests_of(session, case_id)
        view = _view(services, case, [r.state for r in requests], today)
        return case_detail(view, requests)


def list_cases(
    services: Services,
    wanted: CaseFilter,
    *,
    limit: int,
    cursor: str | None = None,
    today: dt.date | None = None,
) -> CasePage:
    """Cases most urgent first (overdue, running, clock stopped, closed; by deadline within each)."""
    today = today or services.clock.today()
    margin = services.settings.processor_margin_days
    with services.database.transaction() as session:
        try:
            page = case_registry.list_page(session, wanted, today=today, margin_days=margin, limit=limit, cursor=cursor)
        except ValueError:
            raise UseCaseError("invalid", "cursor is not valid", parameter="cursor") from None
        states = case_registry.request_states(session, [case.id for case in page.cases])
        views = [_view(services, case, states.get(case.id, []), today) for case in page.cases]
        return CasePage.model_construct(cases=[case_summary(view) for view in views], next_cursor=page.next_cursor)


def _view(services: Services, case: Case, request_states: list[str], today: dt.date) -> CaseView:
    return view_case(case, request_states, today=today, margin_days=services.settings.processor_margin_days)


# -- changing the deadline -----------------------------------------------------------------


Change = Callable[[Session, Case, dt.date], None]


def _change(services: Services, case_id: str, change: Change, *, today: dt.date | None) -> CaseDetail:
    """Run ``change`` on the open case, locked, in one transaction; the case's detail afterwards."""
    today = today or services.clock.today()
    with services.database.transaction() as session:
        case = _open_case(session, case_id)
        with _engine_refusals():
            change(session, case, today)
        session.flush()
        requests = case_registry.requests_of(session, case_id)
        return case_detail(_view(services, case, [r.state for r in requests], today), requests)


def _open_case(session: Session, case_id: str) -> Case:
    case = case_registry.find(session, case_id, for_update=True)
    if case is None:
        raise UseCaseError("not_found", "no case with this id")
    if case.responded_on is not None:
        raise UseCaseError("conflict", "the case is closed", reason="case_closed")
    return case


def _store_deadline(case: Case, today: dt.date) -> None:
    """Keep the deadline as it stands on the case's clock date (``storage.case_registry``: queried for urgency)."""
    deadline = deadline_of(case, today=case.paused_since or today)
    case.due_on, case.original_due_on = deadline.due_on, deadline.original_due_on


def extend_deadline(
    services: Services, case_id: str, document: Any, *, actor: str, today: dt.date | None = None
) -> CaseDetail:
    """Extend by two further months (GDPR Art. 12(3)): once, before the first deadline passed, the subject told."""
    parsed = parse(ExtendDocument, document)

    def extend(_session: Session, case: Case, today: dt.date) -> None:
        _not_after_today(parsed.informed_on, today, "informedOn")
        extension = Extension(parsed.informed_on, parsed.reason)
        check_extension_allowed(deadline_of(case, today=today), extension, today=today)
        before = case.due_on
        case.extension_informed_on, case.extension_reason = extension.informed_on, extension.reason
        _store_deadline(case, today)
        case_registry.record_event(
            case,
            actor=actor,
            kind=EXTENDED,
            changed="dueOn",
            from_value=before,
            to_value=case.due_on,
            reason=f"subject informed {parsed.informed_on}: {parsed.reason}",
        )

    return _change(services, case_id, extend, today=today)


def pause(services: Services, case_id: str, document: Any, *, actor: str, today: dt.date | None = None) -> CaseDetail:
    """Stop the clock from ``date`` (information asked of the data subject); the deadline moves while it is stopped."""
    parsed = parse(PauseDocument, document)

    def stop(_session: Session, case: Case, today: dt.date) -> None:
        paused = pause_clock(pauses_of(case), on=parsed.day, reason=parsed.reason)
        deadline_of(case, today=today, pauses=paused)  # the engine's checks: within the clock, before the deadline
        case.pauses.append(pause_row(paused[-1]))
        case.paused_since = parsed.day
        _store_deadline(case, today)
        case_registry.record_event(
            case,
            actor=actor,
            kind=PAUSED,
            changed="clock",
            from_value="running",
            to_value=f"stopped since {parsed.day}",
            reason=parsed.reason,
        )

    return _change(services, case_id, stop, today=today)


def resume(services: Services, case_id: str, document: Any, *, actor: str, today: dt.date | None = None) -> CaseDetail:
    """Restart the clock on ``date``: the deadline moves by the days it was stopped."""
    parsed = parse(ResumeDocument, document)

    def restart(_session: Session, case: Case, today: dt.date) -> None:
        _not_after_today(parsed.day, today, "date")
        resumed = resume_clock(pauses_of(case), on=parsed.day)
        deadline_of(case, today=today, pauses=resumed)
        stopped = next(p for p in case.pauses if p.resumed_on is None)
        stopped.resumed_on = parsed.day
        case.paused_since = None
        before = case.due_on
        _store_deadline(case, today)
        days = (parsed.day - stopped.started_on).days
        case_registry.record_event(
            case,
            actor=actor,
            kind=RESUMED,
            changed="dueOn",
            from_value=before,
            to_value=case.due_on,
            reason=f"clock stopped {stopped.started_on} to {parsed.day}: {days} days",
        )

    return _change(services, case_id, restart, today=today)


def close(services: Services, case_id: str, document: Any, *, actor: str, today: dt.date | None = None) -> CaseDetail:
    """Record the answer sent to the data subject; every request must have ended unless overridden with a reason."""
    parsed = parse(CloseDocument, document)

    def record_answer(session: Session, case: Case, today: dt.date) -> None:
        _not_after_today(parsed.responded_on, today, "respondedOn")
        if parsed.responded_on < (case.paused_since or case.received_on):
            raise UseCaseError(
                "invalid",
                "respondedOn cannot be before receivedOn, nor before a stopped clock stopped",
                parameter="respondedOn",
            )
        requests = case_registry.requests_of(session, case.id)
        running = [r.id for r in requests if r.state not in case_registry.ENDED_STATES]
        if running and parsed.override_reason is None:
            raise UseCaseError(
                "conflict",
                f"{len(running)} processor request(s) have not ended "
                f"({', '.join(running[:5])}); close with overrideReason to close anyway",
                reason="requests_not_ended",
            )
        state_before = _view(services, case, [r.state for r in requests], today).state
        case.responded_on, case.delivered_by = parsed.responded_on, parsed.delivered_by
        case.closed_at, case.closed_by = services.clock.now(), actor
        case_registry.record_event(
            case,
            actor=actor,
            kind=CLOSED,
            changed="state",
            from_value=state_before,
            to_value=case_registry.CLOSED,
            reason=f"answered {parsed.responded_on} by {parsed.delivered_by}",
        )
        if running:
            case_registry.record_event(
                case,
                actor=actor,
                kind="close_override",
                changed="requests",
                from_value=f"{len(running)} not ended",
                reason=parsed.override_reason,
            )

    return _change(services, case_id, record_answer, today=today)


# -- requests sent for a case --------------------------------------------------------------


def send_for_case(services: Services, case_id: str, document: Any, *, actor: str) -> sending.Sent:
    """``POST /api/cases/<id>/requests``: the same document as ``POST /api/requests``, sent as part of the case."""
    return sending.send_messagebird_request(services, _for_case(services, case_id, document), actor=actor)


def forget_for_case(services: Services, case_id: str, document: Any, *, actor: str) -> sending.Sent:
    """``POST /api/cases/<id>/forget``: the same document as ``POST /api/forget``, sent as part of the case."""
    return sending.forget_number(services, _for_case(services, case_id, document), actor=actor)


def _for_case(services: Services, case_id: str, document: Any) -> Any:
    """``document`` naming the case, with the case's ``subjectRef`` unless it has its own."""
    if not isinstance(document, dict):
        return document  # the document's own validation says what is wrong
    if document.get("caseId") not in (None, case_id):
        raise UseCaseError("invalid", "caseId differs from the case in the path", parameter="caseId")
    with services.database.transaction() as session:
        case = case_registry.find(session, case_id)
        if case is None:
            raise UseCaseError("not_found", "no case with this id")
        subject_ref = case.subject_ref
    return {"subjectRef": subject_ref, **document, "caseId": case_id}
