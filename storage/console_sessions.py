"""The ops console's sessions: who signed in, with which role, until when.

The browser holds a random session id in a cookie; the table holds only its
SHA-256 (the id is 32 random bytes, so a fast unkeyed hash is enough: nothing
guessable is hashed), the operator's name and role, and the expiry. A session is
valid until it expires, is ended (sign-out, ``end_all``), or the token it was opened with is
revoked: ``find_valid`` checks the token in the same query, so revoking a token
signs its operator out of every browser at once. ``ADMIN_TOKEN``'s operator has no
stored token and is never revoked; nor has a person signed in through the identity
provider (``oidc:<id>``, ``storage.people``), whose sessions ``end_all`` ends at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import NamedTuple

from sqlalchemy import Connection, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from storage.clock import clock_of
from storage.db import rows_changed
from storage.models import ApiToken, ConsoleSession
from storage.people import ACTOR_PREFIX

#: The operator whose token is ``ADMIN_TOKEN``: no stored token to revoke.
BOOTSTRAP_OPERATOR = "admin"


class SignedInAs(NamedTuple):
    operator: str
    role: str


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def add(session: Session, session_id: str, *, operator: str, role: str, expires_at: dt.datetime) -> ConsoleSession:
    """Store a new session under the hash of ``session_id``; expired sessions are dropped on the way."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= clock_of(session).now()))
    row = ConsoleSession(id_hash=id_hash(session_id), operator=operator, role=role, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def find_valid(connection: Connection, session_id: str, *, now: dt.datetime | None = None) -> SignedInAs | None:
    """Who is signed in under ``session_id``, unless it expired or its token was revoked (a read: no writer's turn)."""
    token_active = exists().where(ApiToken.name == ConsoleSession.operator, ApiToken.revoked_at.is_(None))
    statement = select(ConsoleSession.operator, ConsoleSession.role).where(
        ConsoleSession.id_hash == id_hash(session_id),
        ConsoleSession.expires_at > (now or clock_of(connection).now()),
        or_(
            ConsoleSession.operator == BOOTSTRAP_OPERATOR,
            ConsoleSession.operator.startswith(ACTOR_PREFIX),
            token_active,
        ),
    )
    row = connection.execute(statement).first()
    return None if row is None else SignedInAs(row.operator, row.role)


def end(session: Session, session_id: str) -> bool:
    """Delete the session (sign-out); whether there was one."""
    return rows_changed(session, delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash(session_id))) == 1


def end_all(session: Session, operator: str) -> int:
    """End every session of ``operator`` (at once, in every browser); how many there were."""
    return rows_changed(session, delete(ConsoleSession).where(ConsoleSession.operator == operator))


def open_sessions(connection: Connection, operator: str, *, now: dt.datetime | None = None) -> int:
    """How many unexpired sessions ``operator`` has."""
    statement = select(func.count()).where(
        ConsoleSession.operator == operator, ConsoleSession.expires_at > (now or clock_of(connection).now())
    )
    return int(connection.execute(statement).scalar_one())
