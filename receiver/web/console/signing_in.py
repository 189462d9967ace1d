"""Signing in, with the organisation's identity provider or a named API token, and out again.

With ``OIDC_ISSUER`` set, the sign-in page offers "Sign in with <provider>": the
browser goes to the provider (authorization code with PKCE, ``state`` and ``nonce``,
``receiver.usecases.people``) and comes back to ``PUBLIC_URL`` + ``/ops/sign-in/callback``,
where the answer is taken once and the person signed in with the role their groups
give them, or refused with a page that says why. The token form stays beside it
unless ``CONSOLE_TOKEN_SIGN_IN=false``: the token is typed into a password field,
checked as the API checks it, and forgotten. Either way the browser then carries only
the session cookie, and lands on the page it asked for (a path of the console only) or
on the cases.

Signing out ends the session here and, for a person signed in through a provider that
offers ``end_session_endpoint``, there too (RP-initiated logout).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, make_response, redirect, request, session, url_for
from werkzeug.wrappers import Response

from receiver.identity.errors import IdentityError
from receiver.observability.logs import get_logger
from receiver.usecases import console_sessions, people
from receiver.usecases.errors import UseCaseError
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint, page
from receiver.web.console.forms import SignInForm
from receiver.web.current import services

log = get_logger(__name__)


@blueprint.get("/sign-in")
@access.public
def sign_in() -> tuple[str, int]:
    return page("sign_in.html", form=SignInForm(next=_safe_next(request.args.get("next"))), **_ways_to_sign_in())


@blueprint.post("/sign-in")
@access.public
def sign_in_with_token() -> Response | tuple[str, int]:
    form = SignInForm()
    if not services().settings.console_token_sign_in:
        log.info("console.sign_in_refused", reason="token_sign_in_off")
        return _refusal_page(IdentityError("token_sign_in_off", "Signing in with an API token is turned off here."))
    try:
        signed_in = console_sessions.sign_in(services(), form.token.data or "")
    except UseCaseError as refused:
        log.info("console.sign_in_refused", reason=refused.reason)
        form.token.errors = [refused.message]
        status = 403 if refused.kind == "forbidden" else 401
        return page("sign_in.html", status, form=form, **_ways_to_sign_in())
    log.info("console.signed_in", actor=signed_in.operator.name, role=signed_in.operator.role, method="token")
    session.clear()  # a fresh CSRF secret for the signed-in session
    response = redirect(_safe_next(form.next.data) or url_for("console.cases_list"), code=303)
    access.set_session_cookie(response, signed_in)
    return response


@blueprint.get("/sign-in/provider")
@access.public
def sign_in_with_provider() -> Response | tuple[str, int]:
    """Off to the identity provider, with what its answer must match sealed in this browser's sign-in cookie."""
    try:
        started = people.begin(services(), next_path=_safe_next(request.args.get("next")))
    except IdentityError as refused:
        log.warning("console.sign_in_refused", reason=refused.reason, method="oidc")
        return _refusal_page(refused)
    response = redirect(started.url, code=303)
    access.set_sign_in_cookie(response, started.pending.sealed(services()), people.PENDING_SECONDS)
    return response


@blueprint.get("/sign-in/callback")
@access.public
def sign_in_callback() -> Response:
    """The provider's answer, taken once: the person signed in, or a page saying why not."""
    try:
        done = people.complete(
            services(), sealed=access.sign_in_cookie(), state=request.args.get("state", ""), code=_code()
        )
    except IdentityError as refused:
        log.info("console.sign_in_refused", reason=refused.reason, method="oidc")
        response = make_response(_refusal_page(refused))
        access.clear_sign_in_cookie(response)
        return response
    log.info("console.signed_in", actor=done.signed_in.operator.name, role=done.signed_in.operator.role, method="oidc")
    session.clear()
    # The browser arrived here by a cross-site redirect: a redirect onwards would not carry the new SameSite=Strict
    # session cookie, so a page of our own takes it on (a same-site navigation, which does).
    target = done.next or url_for("console.cases_list")
    response = make_response(page("signed_in.html", target=target, name=done.name))
    access.clear_sign_in_cookie(response)
    access.set_session_cookie(response, done.signed_in)
    return response


@blueprint.post("/sign-out")
def sign_out() -> Response:
    actor = access.actor()
    console_sessions.sign_out(services(), access.session_id())
    log.info("console.signed_out", actor=actor)
    session.clear()
    provider_url = _provider_sign_out_url(actor)
    response: Response
    if provider_url is not None:
        g.pop("console_operator", None)
        response = make_response(
            page("signed_out.html", provider_url=provider_url, provider=services().settings.oidc_provider_name)
        )
    else:
        flash("You are signed out.", "info")
        response = redirect(url_for("console.sign_in"), code=303)
    access.clear_session_cookie(response)
    return response


def _ways_to_sign_in() -> dict[str, Any]:
    settings = services().settings
    return {
        "token_sign_in": settings.console_token_sign_in,
        "provider_name": settings.oidc_provider_name if services().identity is not None else None,
    }


def _code() -> str:
    """The authorization code, or ``IdentityError`` with the provider's own refusal (``error=access_denied``)."""
    error = request.args.get("error")
    if error is not None:
        word = error if error.replace("_", "").isalnum() and len(error) <= 40 else "unexpected"
        raise IdentityError(
            f"provider_{word}" if word == error else "provider_refused",
            f"{services().settings.oidc_provider_name} did not sign you in ({word}).",
        )
    code = request.args.get("code", "")
    if not code:
        raise IdentityError("no_code", "The identity provider's answer carried no authorization code. Start again.")
    return code


def _refusal_page(refused: IdentityError) -> tuple[str, int]:
    status = 502 if refused.reason == "provider_unavailable" else 403
    return page("sign_in_refused.html", status, message=refused.message, reason=refused.reason)


def _provider_sign_out_url(actor: str) -> str | None:
    identity = services().identity
    if identity is None or not people.signed_in_person(actor):
        return None
    return identity.end_session_url(post_logout_redirect_uri=services().settings.public_url + "/ops/sign-in")


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the console: never another site (``//evil.example``) nor a scheme."""
    if not target or not target.startswith("/ops/") or target.startswith("//") or "\\" in target:
        return None
    return target
