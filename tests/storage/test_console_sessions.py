"""Console sessions in storage: only a hash of the id is kept; a session ends when it expires or its token is
revoked."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from storage import console_sessions, tokens
from storage.clock import Clock
from storage.models import ConsoleSession


def later(minutes: int) -> dt.datetime:
    return Clock().now() + dt.timedelta(minutes=minutes)


def test_the_session_id_is_stored_only_as_its_hash(database):
    with database.transaction() as session:
        console_sessions.add(session, "the-session-id", operator="admin", role="operator", expires_at=later(60))
    with database.transaction() as session:
        stored = session.scalars(select(ConsoleSession)).one()
        assert stored.id_hash == console_sessions.id_hash("the-session-id") != "the-session-id"
        assert "the-session-id" not in (stored.id_hash, stored.operator, stored.role)


def test_a_session_is_found_until_it_expires(database):
    with database.transaction() as session:
        console_sessions.add(session, "s-1", operator="admin", role="operator", expires_at=later(60))
    with database.reading() as connection:
        assert console_sessions.find_valid(connection, "s-1") == ("admin", "operator")
        assert console_sessions.find_valid(connection, "s-1", now=later(61)) is None
        assert console_sessions.find_valid(connection, "another") is None


def test_revoking_the_token_ends_its_sessions(database):
    with database.transaction() as session:
        tokens.add(session, name="vera", role="viewer", token_hash="h" * 64, created_by="admin")
        console_sessions.add(session, "s-vera", operator="vera", role="viewer", expires_at=later(60))
    with database.reading() as connection:
        assert console_sessions.find_valid(connection, "s-vera") == ("vera", "viewer")
    with database.transaction() as session:
        tokens.revoke(session, "vera", revoked_by="admin")
    with database.reading() as connection:
        assert console_sessions.find_valid(connection, "s-vera") is None


def test_a_session_whose_operator_has_no_token_is_not_valid(database):
    with database.transaction() as session:
        console_sessions.add(session, "s-ghost", operator="ghost", role="operator", expires_at=later(60))
    with database.reading() as connection:
        assert console_sessions.find_valid(connection, "s-ghost") is None


def test_signing_out_ends_the_session_and_expired_ones_are_dropped_on_the_next_sign_in(database):
    with database.transaction() as session:
        console_sessions.add(session, "old", operator="admin", role="operator", expires_at=Clock().now())
        console_sessions.add(session, "current", operator="admin", role="operator", expires_at=later(60))
    with database.transaction() as session:
        assert console_sessions.end(session, "current") is True
        assert console_sessions.end(session, "current") is False
        assert session.scalars(select(ConsoleSession)).all() == []
