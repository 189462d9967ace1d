"""The people who signed in through the identity provider: named in every history, listed, their sessions ended.

- The ``actor`` filter shows ``oidc:<id>`` as the person's name and role (their role at
  their last sign-in), the id beside it; any other actor (a token's name, ``cli:...``) as it is.
- ``/ops/people`` lists who signed in, their role and last sign-in and open sessions; an
  operator ends someone's sessions from there at once (as ``flask operators end-sessions``).
"""

from __future__ import annotations

from flask import flash, g, redirect, url_for
from werkzeug.wrappers import Response

from receiver.usecases import people
from receiver.usecases.operators import ACT
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint, page
from receiver.web.current import services
from storage.people import ACTOR_PREFIX


def actor_label(actor: str | None) -> str:
    """``Olivia Example (operator) · oidc:3f9a0c1b2d4e`` for a person who signed in through the provider."""
    if not actor or not actor.startswith(ACTOR_PREFIX):
        return actor or ""
    known: dict[str, tuple[str, str] | None] = g.setdefault("console_people_names", {})
    if actor not in known:
        known[actor] = people.names(services(), {actor}).get(actor)
    found = known[actor]
    return actor if found is None else f"{found[0]} ({found[1]}) · {actor}"


blueprint.add_app_template_filter(actor_label, "actor")


@blueprint.get("/people")
def people_list() -> tuple[str, int]:
    return page("people.html", people=people.list_people(services()), active="people")


@blueprint.post("/people/<person>/end-sessions")
@access.permitted(ACT)
def end_sessions(person: str) -> Response:
    ended = people.end_sessions(services(), person, actor=access.actor())
    flash(f"{ended['name']}: {ended['sessionsEnded']} session(s) ended.", "info")
    return redirect(url_for("console.people_list"), code=303)
