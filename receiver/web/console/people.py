"""The people who signed in through the identity provider: named in every history, listed, their sessions ended.

- The ``actor`` filter shows ``oidc:<id>`` as the person's name and the role they held at
  the entry's time (``e.actor|actor(e.at)``), the id beside it; any other actor (a token's
  name, ``cli:...``) as it is.
- ``/ops/people`` lists who signed in, their role and last sign-in and open sessions; an
  operator ends someone's sessions from there at once (as ``flask operators end-sessions``).
"""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, url_for
from werkzeug.wrappers import Response

from receiver.usecases import people
from receiver.usecases.operators import ACT
from receiver.web.console import access
from receiver.web.console.blueprint import blueprint, page
from receiver.web.current import services


def actor_label(actor: str | None, at: str | dt.datetime | None = None) -> str:
    """``Olivia Example (operator) · oidc:3f9a0c1b2d4e`` for a person who signed in through the provider, with the role
    they held ``at`` the time of the entry (an ISO time or a datetime; their last role when not given)."""
    if not actor or not people.signed_in_person(actor):
        return actor or ""
    known: dict[str, people.Known | None] = g.setdefault("console_people_known", {})
    if actor not in known:
        known[actor] = people.known_people(services(), {actor}).get(actor)
    person = known[actor]
    return actor if person is None else f"{person.name} ({person.role_at(_moment(at))}) · {actor}"


def _moment(at: str | dt.datetime | None) -> dt.datetime | None:
    if isinstance(at, dt.datetime) or at is None:
        return at
    try:
        return dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None


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
