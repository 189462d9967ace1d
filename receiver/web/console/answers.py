"""The answer to the data subject, in the console: build the package, make a link (shown once), revoke one.

Each form calls the use case of ``POST /api/cases/<id>/package``, ``POST .../package/links``
and ``DELETE .../package/links/<linkId>`` as the signed-in operator. A new link's URL holds
its secret, so it is shown on the page that answers the form, once, and never put in a
redirect, a flash message or the session.
"""

from __future__ import annotations

from flask import flash, g, redirect, url_for
from werkzeug.wrappers import Response

from receiver.usecases import subject_links, subject_package
from receiver.usecases.errors import UseCaseError
from receiver.usecases.operators import ACT
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint
from receiver.web.console.cases import PageAnswer, case_page_with
from receiver.web.console.forms import LinkForm
from receiver.web.current import services
from receiver.web.errors import problem_from_usecase


@blueprint.post("/cases/<case_id>/package")
@access.permitted(ACT)
def build_package(case_id: str) -> Response | PageAnswer:
    try:
        subject_package.request_package(services(), case_id, actor=access.actor())
    except UseCaseError as refused:
        flash(refused.message, "error")
        return redirect(url_for(".case_page", case_id=case_id, _anchor="answer"), code=303)
    flash("The package is being built by the worker: reload this page in a moment.", "success")
    return redirect(url_for(".case_page", case_id=case_id, _anchor="answer"), code=303)


@blueprint.post("/cases/<case_id>/package/links")
@access.permitted(ACT)
def create_link(case_id: str) -> PageAnswer:
    form = LinkForm(prefix="link")
    try:
        created = subject_links.create_link(services(), case_id, form.document(), actor=access.actor())
    except UseCaseError as refused:
        form.show_refusal(refused)
        return case_page_with(case_id, problem_from_usecase(refused).status, link_form=form)
    g.copy_button = True
    return case_page_with(case_id, 201, new_link=created)


@blueprint.post("/cases/<case_id>/package/links/<link_id>/revoke")
@access.permitted(ACT)
def revoke_link(case_id: str, link_id: str) -> Response:
    try:
        subject_links.revoke_link(services(), case_id, link_id, actor=access.actor())
    except UseCaseError as refused:
        flash(refused.message, "error")
    else:
        flash(f"Link {link_id} revoked: it answers 410 from now on.", "success")
    return redirect(url_for(".case_page", case_id=case_id, _anchor="answer"), code=303)
