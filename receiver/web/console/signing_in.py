"""Signing in with a named API token, and out again.

The token is typed into a password field, checked as the API checks it, and
forgotten: from then on the browser carries only the session cookie. After
signing in, the operator lands on the page they asked for (a path of the console
only) or on the cases.
"""

from __future__ import annotations

from flask import flash, redirect, request, session, url_for
from werkzeug.wrappers import Response

from receiver.observability.logs import get_logger
from receiver.usecases import console_sessions
from receiver.usecases.errors import UseCaseError
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint, page
from receiver.web.console.forms import SignInForm
from receiver.web.current import services

log = get_logger(__name__)


@blueprint.get("/sign-in")
@access.public
def sign_in() -> tuple[str, int]:
    return page("sign_in.html", form=SignInForm(next=_safe_next(request.args.get("next"))))


@blueprint.post("/sign-in")
@access.public
def sign_in_with_token() -> Response | tuple[str, int]:
    form = SignInForm()
    try:
        signed_in = console_sessions.sign_in(services(), form.token.data or "")
    except UseCaseError as refused:
        log.info("console.sign_in_refused", reason=refused.reason)
        form.token.errors = [refused.description]
        return page("sign_in.html", 403 if refused.kind == "forbidden" else 401, form=form)
    log.info("console.signed_in", actor=signed_in.operator.name, role=signed_in.operator.role)
    session.clear()  # a fresh CSRF secret for the signed-in session
    response = redirect(_safe_next(form.next.data) or url_for("console.cases_list"), code=303)
    access.set_session_cookie(response, signed_in)
    return response


@blueprint.post("/sign-out")
def sign_out() -> Response:
    console_sessions.sign_out(services(), access.session_id())
    log.info("console.signed_out", actor=access.actor())
    session.clear()
    flash("You are signed out.", "info")
    response = redirect(url_for("console.sign_in"), code=303)
    access.clear_session_cookie(response)
    return response


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the console: never another site (``//evil.example``) nor a scheme."""
    if not target or not target.startswith("/ops/") or target.startswith("//") or "\\" in target:
        return None
    return target
