"""The cases pages: the list most urgent first, a new case, one case with its timeline, deadline and actions.

Each action is one form posted to its own URL, handled by the use case the API's
``POST /api/cases/<id>/<action>`` calls, with the signed-in operator as the actor;
the legal hold's two forms call those of ``POST`` and ``DELETE /api/cases/<id>/legal-hold``.
A refusal shows the case again with the reason on the field it names (and the
API's status); a success redirects to the case with a message (POST/redirect/GET).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from receiver.observability.logs import get_logger
from receiver.providers import ProviderError
from receiver.usecases import cases, console_views, evidence, legal_holds, sending, subject_package
from receiver.usecases.answers import Answer, CaseDetail
from receiver.usecases.documents import CASE_STATES, JURISDICTIONS, RIGHTS
from receiver.usecases.errors import UseCaseError
from receiver.usecases.operators import ACT, EXPORT
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint, page
from receiver.web.console.forms import (
    CaseForm,
    CloseForm,
    DocumentForm,
    ExtendForm,
    ForgetForm,
    LegalHoldForm,
    LinkForm,
    MessageBirdRequestForm,
    PauseForm,
    ReleaseHoldForm,
    ResumeForm,
)
from receiver.web.console.present import Badge, case_history, deadline_badge
from receiver.web.console.timeline import case_timeline
from receiver.web.current import services
from receiver.web.errors import invalid, problem_from_provider, problem_from_usecase
from receiver.web.inputs import optional_arg, optional_flag, optional_text

log = get_logger(__name__)
PAGE = 50
MAX_SEARCH = 200
PageAnswer = tuple[str, int]
Changed = TypeVar("Changed", bound=Answer)


@dataclass(frozen=True)
class CaseRow:
    case: dict[str, Any]
    badge: Badge
    progress: list[console_views.Progress]

    @property
    def ended(self) -> int:
        return sum(1 for p in self.progress if p.state in console_views.ENDED_STATES)


@blueprint.get("/")
def cases_list() -> PageAnswer:
    wanted = cases.CaseFilter(
        state=optional_arg("state", CASE_STATES),
        overdue=True if optional_flag("overdue") else None,
        right=optional_arg("right", RIGHTS),
        jurisdiction=optional_arg("jurisdiction", JURISDICTIONS),
        subject_ref_contains=_search_text(),
    )
    found = cases.list_cases(services(), wanted, limit=PAGE, cursor=optional_text("cursor"))
    summaries = [summary.as_json() for summary in found.cases]
    progress = console_views.progress_of(services(), [summary["id"] for summary in summaries])
    rows = [CaseRow(summary, deadline_badge(summary), progress.get(summary["id"], [])) for summary in summaries]
    next_page: dict[str, Any] = {**request.args, "cursor": found.next_cursor}
    next_url = url_for(".cases_list", **next_page) if found.next_cursor else None
    return page(
        "cases.html",
        rows=rows,
        wanted=wanted,
        next_url=next_url,
        filtered=bool(request.args),
        states=CASE_STATES,
        rights=RIGHTS,
        jurisdictions=JURISDICTIONS,
    )


def _search_text() -> str | None:
    text = (optional_text("q") or "").strip()
    if len(text) > MAX_SEARCH or "\x00" in text:
        raise invalid(f"the search must be at most {MAX_SEARCH} characters of text", parameter="q")
    return text or None


@blueprint.get("/cases/new")
@access.permitted(ACT)
def new_case() -> PageAnswer:
    return page("new_case.html", form=CaseForm())


@blueprint.post("/cases")
@access.permitted(ACT)
def open_case() -> Response | PageAnswer:
    form = CaseForm()
    try:
        opened = cases.open_case(services(), form.document(), actor=access.actor())
    except UseCaseError as refused:
        form.show_refusal(refused)
        return page("new_case.html", problem_from_usecase(refused).status, form=form)
    flash(f"Case opened for {opened.subject_ref}: due {opened.due_on}.", "success")
    return redirect(url_for(".case_page", case_id=opened.id), code=303)


@blueprint.get("/cases/<case_id>")
def case_page(case_id: str) -> PageAnswer:
    return _case_page(case_id)


def _case_page(
    case_id: str, status: int = 200, failed: tuple[str, DocumentForm] | None = None, **answer: Any
) -> PageAnswer:
    """The case; ``failed`` is the action form a refusal came back to, shown open with its errors; ``answer`` what
    the answer's forms show (``receiver.web.console.answers``: a new link, shown once, or the link form refused)."""
    case = cases.show_case(services(), case_id).as_json()
    forms = {**action_forms(case), **hold_forms(case)} if access.may(ACT) else {}
    if failed is not None:
        forms[failed[0]] = failed[1]
    package = subject_package.package_view(services(), case_id).as_json()
    if "close" in forms and package.get("closingProposal") and failed is None:
        proposal = package["closingProposal"]
        forms["close"].responded_on.data = dt.date.fromisoformat(proposal["respondedOn"])
        forms["close"].delivered_by.data = proposal["deliveredBy"]
    timeline = case_timeline(
        case, services().clock.today(), lambda request_id: url_for(".request_page", request_id=request_id)
    )
    return page(
        "case.html",
        status,
        case=case,
        badge=deadline_badge(case),
        timeline=timeline,
        forms=forms,
        actions=[name for name in ACTIONS if name in forms],
        history=case_history(case),
        open_action=failed[0] if failed else None,
        archive_retention_days=services().settings.archive_retention_days,
        package=package,
        link_form=answer.get("link_form") or (LinkForm(formdata=None, prefix="link") if access.may(ACT) else None),
        new_link=answer.get("new_link"),
    )


def case_page_with(case_id: str, status: int, **answer: Any) -> PageAnswer:
    """The case page answering one of the answer's forms (``receiver.web.console.answers``)."""
    return _case_page(case_id, status, **answer)


#: The actions on a case, in the order the page offers them: its form and whether the case allows it now.
ACTIONS: dict[str, tuple[type[DocumentForm], Callable[[dict[str, Any]], bool]]] = {
    "send": (MessageBirdRequestForm, lambda case: True),
    "forget": (ForgetForm, lambda case: True),
    "extend": (ExtendForm, lambda case: not case["extended"] and not case["paused"]),
    "pause": (PauseForm, lambda case: not case["paused"]),
    "resume": (ResumeForm, lambda case: case["paused"]),
    "close": (CloseForm, lambda case: True),
}


#: The legal hold's forms: placed while there is none, released while there is one, closed case or not
#: (a closed case's archives are the ones retention deletes).
HOLD_ACTIONS: dict[str, tuple[type[DocumentForm], Callable[[dict[str, Any]], bool]]] = {
    "hold": (LegalHoldForm, lambda case: case["legalHold"] is None),
    "release": (ReleaseHoldForm, lambda case: case["legalHold"] is not None),
}
FORMS = {**ACTIONS, **HOLD_ACTIONS}


def action_forms(case: dict[str, Any]) -> dict[str, DocumentForm]:
    """The forms an operator may use on ``case`` now (none once it is closed), empty of anything posted."""
    if case["respondedOn"]:
        return {}
    return _forms(ACTIONS, case)


def hold_forms(case: dict[str, Any]) -> dict[str, DocumentForm]:
    """The legal hold form that applies to ``case`` now: place one, or release it."""
    return _forms(HOLD_ACTIONS, case)


def _forms(
    offered: dict[str, tuple[type[DocumentForm], Callable[[dict[str, Any]], bool]]], case: dict[str, Any]
) -> dict[str, DocumentForm]:
    return {name: form(formdata=None, prefix=name) for name, (form, allowed) in offered.items() if allowed(case)}


def _change(
    case_id: str, name: str, change: Callable[..., Changed], done: Callable[[Changed], str]
) -> Response | PageAnswer:
    """Run a change of the case through its use case; the case again with the refusal, or a redirect."""
    form = FORMS[name][0](prefix=name)
    try:
        changed = change(services(), case_id, form.document(), actor=access.actor())
    except UseCaseError as refused:
        form.show_refusal(refused)
        return _case_page(case_id, problem_from_usecase(refused).status, failed=(name, form))
    flash(done(changed), "success")
    return redirect(url_for(".case_page", case_id=case_id), code=303)


@blueprint.post("/cases/<case_id>/extend")
@access.permitted(ACT)
def extend(case_id: str) -> Response | PageAnswer:
    return _change(case_id, "extend", cases.extend_deadline, lambda case: f"Deadline extended to {case.due_on}.")


@blueprint.post("/cases/<case_id>/pause")
@access.permitted(ACT)
def pause(case_id: str) -> Response | PageAnswer:
    return _change(case_id, "pause", cases.pause, lambda case: f"Clock stopped since {case.paused_since}.")


@blueprint.post("/cases/<case_id>/resume")
@access.permitted(ACT)
def resume(case_id: str) -> Response | PageAnswer:
    return _change(case_id, "resume", cases.resume, lambda case: f"Clock running again: due {case.due_on}.")


@blueprint.post("/cases/<case_id>/close")
@access.permitted(ACT)
def close(case_id: str) -> Response | PageAnswer:
    def closed(case: CaseDetail) -> str:
        return "Case closed: " + ("answered in time." if case.answered_in_time else "answered after the deadline.")

    return _change(case_id, "close", cases.close, closed)


@blueprint.post("/cases/<case_id>/legal-hold")
@access.permitted(ACT)
def place_hold(case_id: str) -> Response | PageAnswer:
    """``POST /api/cases/<id>/legal-hold``: the case's archives are kept until the hold is released."""
    return _change(
        case_id,
        "hold",
        legal_holds.place_legal_hold,
        lambda held: "Legal hold placed: no archive of this case is deleted until it is released.",
    )


@blueprint.post("/cases/<case_id>/legal-hold/release")
@access.permitted(ACT)
def release_hold(case_id: str) -> Response | PageAnswer:
    """``DELETE /api/cases/<id>/legal-hold``: the archives go again when their retention period is over."""
    return _change(
        case_id,
        "release",
        legal_holds.release_legal_hold,
        lambda released: "Legal hold released: the archives are deleted once their retention period is over.",
    )


@blueprint.post("/cases/<case_id>/evidence")
@access.permitted(EXPORT)
def evidence_pack(case_id: str) -> Response:
    """The evidence pack, through the API's use case: its SHA-256 recorded in the history under the operator."""
    pack = evidence.export_pack(services(), case_id, actor=access.actor())
    response = Response(pack.data, mimetype="application/zip")
    response.headers.set("Content-Disposition", "attachment", filename=f"{case_id}-evidence.zip")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/cases/<case_id>/requests")
@access.permitted(ACT)
def send_request(case_id: str) -> Response | PageAnswer:
    """The document of ``POST /api/cases/<id>/requests``: a MessageBird request sent as part of the case."""
    return _send(case_id, "send", cases.send_for_case)


@blueprint.post("/cases/<case_id>/forget")
@access.permitted(ACT)
def forget(case_id: str) -> Response | PageAnswer:
    """The document of ``POST /api/cases/<id>/forget``: a VoodooSMS forget request sent as part of the case."""
    return _send(case_id, "forget", cases.forget_for_case)


def _send(case_id: str, name: str, send: Callable[..., sending.Sent]) -> Response | PageAnswer:
    form = ACTIONS[name][0](prefix=name)
    try:
        sent = send(services(), case_id, form.document(), actor=access.actor())
    except UseCaseError as refused:
        form.show_refusal(refused)
        return _case_page(case_id, problem_from_usecase(refused).status, failed=(name, form))
    except ProviderError as error:
        log.warning(
            "provider.failed", provider=error.provider, reason=error.reason, code=error.code, status=error.status
        )
        problem = problem_from_provider(error)
        form.form_errors.append(problem.message)
        return _case_page(case_id, problem.status, failed=(name, form))
    if sent.outcome == sending.CREATED:
        provider = sending.PROVIDER_NAMES.get(sent.request.provider, sent.request.provider)
        flash(f"Sent to {provider}: request {sent.request.id}.", "success")
    else:
        flash(sent.explanation() or "The request's outcome is not known yet.", "warning")
    return redirect(url_for(".case_page", case_id=case_id), code=303)
