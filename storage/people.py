"""People who signed in to the console through the identity provider: one row per issuer and ``sub``.

``record_sign_in`` finds or adds the person (a short random id, given once and kept)
and notes their name and role as of this sign-in. A person's id never changes, so the
actor ``oidc:<id>`` names the same person in every history, whatever their e-mail
address or name becomes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.clock import clock_of
from storage.models import ConsolePerson, ConsolePersonRole

#: The prefix of a person's actor: ``oidc:3f9a0c1b2d4e``.
ACTOR_PREFIX = "oidc:"


def actor_of(person: ConsolePerson) -> str:
    return ACTOR_PREFIX + person.id


def record_sign_in(session: Session, *, issuer: str, subject: str, name: str, role: str) -> ConsolePerson:
    """The person keyed on ``issuer`` and ``subject`` (added on their first sign-in), with this name and role."""
    statement = select(ConsolePerson).where(ConsolePerson.issuer == issuer, ConsolePerson.subject == subject)
    person = session.scalars(statement.with_for_update()).first()
    now = clock_of(session).now()
    if person is None:
        person = ConsolePerson(
            id=secrets.token_hex(6), issuer=issuer, subject=subject, name=name, role="", first_signed_in_at=now
        )
        session.add(person)
    if person.role != role:
        session.add(ConsolePersonRole(person_id=person.id, role=role, since=now))
    person.name, person.role, person.last_signed_in_at = name, role, now
    session.flush()
    return person


def find(session: Session, person: str) -> ConsolePerson | None:
    """The person by id, by actor (``oidc:<id>``) or, failing both, by name when only one person bears it."""
    short_id = person.removeprefix(ACTOR_PREFIX)
    found = session.get(ConsolePerson, short_id)
    if found is not None:
        return found
    named = session.scalars(select(ConsolePerson).where(ConsolePerson.name == person).limit(2)).all()
    return named[0] if len(named) == 1 else None


def all_people(session: Session) -> Sequence[ConsolePerson]:
    """Everyone who ever signed in, the latest sign-in first."""
    return session.scalars(select(ConsolePerson).order_by(ConsolePerson.last_signed_in_at.desc())).all()


def roles_held(session: Session, person_ids: Sequence[str]) -> dict[str, list[tuple[str, dt.datetime]]]:
    """The roles each person held and since when, oldest first, by person id."""
    held: dict[str, list[tuple[str, dt.datetime]]] = {person_id: [] for person_id in person_ids}
    statement = (
        select(ConsolePersonRole)
        .where(ConsolePersonRole.person_id.in_(person_ids))
        .order_by(ConsolePersonRole.since, ConsolePersonRole.id)
    )
    for row in session.scalars(statement):
        held[row.person_id].append((row.role, row.since))
    return held


def role_at(held: Sequence[tuple[str, dt.datetime]], at: dt.datetime) -> str | None:
    """The role held at ``at`` (the latest one since before it), or None before the first."""
    roles = [role for role, since in held if since <= at]
    return roles[-1] if roles else None


def names_of(session: Session, actors: set[str]) -> dict[str, ConsolePerson]:
    """The people among ``actors`` (``oidc:<id>``), by actor."""
    ids = [actor.removeprefix(ACTOR_PREFIX) for actor in actors if actor.startswith(ACTOR_PREFIX)]
    if not ids:
        return {}
    rows = session.scalars(select(ConsolePerson).where(ConsolePerson.id.in_(ids))).all()
    return {actor_of(person): person for person in rows}
