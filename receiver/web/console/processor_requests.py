"""A processor request's page: its transitions with their actors, every callback's verdicts, the archive, retry.

A retry and an archive download go through the API's own use cases
(``archives.retry_archive``, ``archives.archive_access``), so each is recorded with
the signed-in operator: the retry as a transition, the download as an
``archive_downloaded`` event, before the archive is handed out. From S3 the
download is a presigned link shown on a page of its own (valid
``ARCHIVE_PRESIGN_SECONDS``); from the file store, the file itself.
"""

from __future__ import annotations

from flask import flash, redirect, send_file, url_for
from werkzeug.wrappers import Response

from receiver.usecases import archives, console_views
from receiver.usecases.errors import UseCaseError
from receiver.usecases.operators import ACT, EXPORT
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint, page
from receiver.web.current import services
from receiver.web.errors import problem_from_usecase

PageAnswer = tuple[str, int]


@blueprint.get("/requests/<request_id>")
def request_page(request_id: str) -> PageAnswer:
    return _request_page(request_id)


def _request_page(request_id: str, status: int = 200, problem: str | None = None) -> PageAnswer:
    record = console_views.request_record(services(), request_id)
    return page(
        "request.html",
        status,
        request=record,
        problem=problem,
        may_retry=access.may(ACT) and archives.may_retry(record["state"]),
    )


@blueprint.post("/requests/<request_id>/retry")
@access.permitted(ACT)
def retry(request_id: str) -> Response | PageAnswer:
    try:
        archives.retry_archive(services(), request_id, actor=access.actor())
    except UseCaseError as refused:
        return _request_page(request_id, problem_from_usecase(refused).status, refused.message)
    flash("The archive download is queued again.", "success")
    return redirect(url_for(".request_page", request_id=request_id), code=303)


@blueprint.post("/requests/<request_id>/archive")
@access.permitted(EXPORT)
def download_archive(request_id: str) -> Response | PageAnswer:
    try:
        handed = archives.archive_access(services(), request_id, actor=access.actor())
    except UseCaseError as refused:
        return _request_page(request_id, problem_from_usecase(refused).status, refused.message)
    if handed.file is None:  # S3: a presigned URL
        return page("archive_link.html", request_id=request_id, url=handed.url, expires_in=handed.expires_in)
    return send_file(handed.file, mimetype="application/zip", as_attachment=True, download_name=f"{request_id}.zip")
