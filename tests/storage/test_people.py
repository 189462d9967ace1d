"""People who signed in through the identity provider: one per issuer and sub, their roles over time, their sessions."""

from __future__ import annotations

import datetime as dt

from storage import console_sessions, people
from storage.clock import Clock

ISSUER = "https://login.example.test/realms/ops"


def sign_in(database, subject: str = "sub-1", *, name: str = "Olivia", role: str = "operator", issuer: str = ISSUER):
    with database.transaction() as session:
        person = people.record_sign_in(session, issuer=issuer, subject=subject, name=name, role=role)
        return people.actor_of(person)


def test_a_person_is_keyed_on_issuer_and_sub_and_keeps_one_short_actor(database):
    first = sign_in(database, name="Olivia")
    again = sign_in(database, name="Olivia Renamed")
    elsewhere = sign_in(database, issuer="https://other.example.test")
    assert first == again != elsewhere
    assert first.startswith("oidc:") and len(first) == len("oidc:") + 12 <= 64  # fits every actor column
    with database.transaction() as session:
        assert [p.name for p in people.all_people(session) if people.actor_of(p) == first] == ["Olivia Renamed"]


def test_only_a_changed_role_is_kept_as_a_new_one(database):
    actor = sign_in(database, role="viewer")
    sign_in(database, role="viewer")
    sign_in(database, role="operator")
    with database.transaction() as session:
        person_id = actor.removeprefix("oidc:")
        held = people.roles_held(session, [person_id])[person_id]
    assert [role for role, _ in held] == ["viewer", "operator"]
    before, after = held[1][1] - dt.timedelta(microseconds=1), held[1][1]
    assert (people.role_at(held, before), people.role_at(held, after)) == ("viewer", "operator")
    assert people.role_at(held, held[0][1] - dt.timedelta(days=1)) is None


def test_a_person_is_found_by_actor_id_or_a_name_only_they_bear(database):
    actor = sign_in(database, "sub-1", name="Olivia")
    sign_in(database, "sub-2", name="Sam")
    sign_in(database, "sub-3", name="Sam")
    with database.transaction() as session:
        assert people.actor_of(people.find(session, actor)) == actor  # type: ignore[arg-type]
        assert people.actor_of(people.find(session, actor.removeprefix("oidc:"))) == actor  # type: ignore[arg-type]
        assert people.actor_of(people.find(session, "Olivia")) == actor  # type: ignore[arg-type]
        assert people.find(session, "Sam") is None  # two people bear it: say which by id
        assert people.find(session, "nobody") is None


def test_a_persons_sessions_are_valid_until_ended_all_at_once(database):
    actor = sign_in(database)
    with database.transaction() as session:
        for session_id in ("a", "b"):
            console_sessions.add(
                session, session_id, operator=actor, role="operator", expires_at=Clock().now() + dt.timedelta(hours=1)
            )
    with database.reading() as connection:
        assert console_sessions.find_valid(connection, "a") == (actor, "operator")
        assert console_sessions.open_sessions(connection, actor) == 2
    with database.transaction() as session:
        assert console_sessions.end_all(session, actor) == 2
    with database.reading() as connection:
        assert console_sessions.find_valid(connection, "b") is None
