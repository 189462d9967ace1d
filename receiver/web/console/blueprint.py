"""The console's blueprint: CSRF and the session before each view, safe headers after, HTML error pages.

No path answers with a traceback: a use case's refusal, a missing record, an
unavailable backend or an unexpected error each get a page of their own with
the status the API would answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response

from receiver.observability.logs import get_logger
from receiver.usecases.errors import UseCaseError
from receiver.usecases.operators import ACT, EXPORT
from receiver.web.console import access
from receiver.web.console.present import FILTERS
from receiver.web.current import services
from receiver.web.errors import HttpProblem, problem_from_storage, problem_from_usecase
from storage.errors import StorageError

log = get_logger(__name__)
blueprint = Blueprint(
    "console",
    __name__,
    url_prefix="/ops",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
csrf = CSRFProtect()
for _name, _filter in FILTERS.items():
    blueprint.add_app_template_filter(_filter, _name)

#: Content-Security-Policy: our own stylesheet, no script at all, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SAFE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@blueprint.before_request
def check_csrf() -> None:
    """Every POST of the console carries the CSRF token of a form it served (the sign-in form included)."""
    if request.method == "POST":
        csrf.protect()


blueprint.before_request(access.authorise_view)


@blueprint.after_request
def safe_headers(response: Response) -> Response:
    response.headers.update(SAFE_HEADERS)
    if g.get("copy_button"):  # the one page that shows a subject's new link: its copy button's own script
        response.headers["Content-Security-Policy"] += "; script-src 'self'"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.context_processor
def page_context() -> dict[str, Any]:
    return {
        "operator": access.signed_in(),
        "may_act": access.may(ACT),
        "may_export": access.may(EXPORT),
        "session_minutes": services().settings.console_session_minutes,
    }


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"console/{template}", **context), status


@blueprint.route("/<path:unknown>", methods=["GET", "POST"])
def not_found(unknown: str) -> tuple[str, int]:
    raise NotFound()


# -- error pages ---------------------------------------------------------------------------


@blueprint.errorhandler(access.NotSignedIn)
def _sign_in_first(_error: access.NotSignedIn) -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("console.sign_in", next=target), code=303)


@blueprint.errorhandler(access.NotPermitted)
def _not_permitted(error: access.NotPermitted) -> tuple[str, int]:
    log.info("console.refused", reason=f"role_lacks_{error.permission}", path=request.path)
    return page("error.html", 403, title="Not allowed", message=f"Your role ({error.role}) may not do this.")


@blueprint.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError) -> tuple[str, int]:
    log.info("console.csrf_refused", reason=error.description, path=request.path)
    return page(
        "error.html",
        400,
        title="Form not accepted",
        message="This form was not sent from a page of the console, or it has expired. Nothing was changed: "
        "go back, reload the page and send it again.",
    )


@blueprint.errorhandler(RateLimitExceeded)
def _too_many_sign_ins(error: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    window = max(1, int(error.limit.limit.get_expiry())) if error.limit else 60
    log.warning("console.sign_in_limited", retry_after_s=window)
    body, status = page(
        "error.html",
        429,
        title="Too many attempts",
        message="Too many sign-ins from this address were refused. Wait a while, then try again.",
    )
    return body, status, {"Retry-After": str(window)}


@blueprint.errorhandler(UseCaseError)
def _refused(error: UseCaseError) -> tuple[str, int]:
    return _problem_page(problem_from_usecase(error))


@blueprint.errorhandler(HttpProblem)
def _problem_page(problem: HttpProblem) -> tuple[str, int]:
    titles = {400: "Not understood", 403: "Not allowed", 404: "Not found", 409: "Not possible now"}
    return page("error.html", problem.status, title=titles.get(problem.status, "Unavailable"), message=problem.message)


@blueprint.errorhandler(StorageError)
def _storage_unavailable(error: StorageError) -> tuple[str, int]:
    log.warning("storage.failed", reason=error.reason, error=error.message)
    return _problem_page(problem_from_storage(error))


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    return page(
        "error.html",
        error.code or 500,
        title=error.name,
        message="There is no such page in the console." if error.code == 404 else error.description,
    )


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[str, int]:
    log.error("request.crashed", error_type=type(error).__name__, exc_info=error)
    return page(
        "error.html",
        500,
        title="Something went wrong",
        message="The console could not answer. The error is logged under the request id "
        f"{request.environ.get('receiver.request_id', '')}.",
    )
