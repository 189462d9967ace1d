"""Signing in to the ops console with an API token, and the sessions that follow.

An operator types the token of ``flask tokens create`` (or ``ADMIN_TOKEN``) once;
the console then knows them by a session id in a cookie, valid for
``CONSOLE_SESSION_MINUTES``. The token itself is never kept: it is checked as the
API checks it (``operators.authenticate``) and forgotten. A role that may read
nothing (``metrics``) cannot sign in.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from receiver.services import Services
from receiver.usecases import operators
from receiver.usecases.errors import UseCaseError
from receiver.usecases.operators import READ, Operator
from storage import console_sessions


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``session_id`` goes into the cookie and nowhere else."""

    session_id: str
    operator: Operator
    expires_at: dt.datetime


def sign_in(services: Services, token: str) -> SignedIn:
    """A session for the token's operator; ``UseCaseError`` for an unknown token or a role that may not read."""
    operator = operators.authenticate(services, token.strip())
    if operator is None:
        raise UseCaseError(
            "invalid", "This token is not known, or it was revoked.", reason="unknown_token", parameter="token"
        )
    if not operator.may(READ):
        raise UseCaseError(
            "forbidden",
            f"The {operator.role} role cannot use the console.",
            reason=f"role_lacks_{READ}",
            parameter="token",
        )
    session_id = secrets.token_urlsafe(32)
    expires_at = services.clock.now() + dt.timedelta(minutes=services.settings.console_session_minutes)
    with services.database.transaction() as session:
        console_sessions.add(session, session_id, operator=operator.name, role=operator.role, expires_at=expires_at)
    return SignedIn(session_id, operator, expires_at)


def operator_of(services: Services, session_id: str) -> Operator | None:
    """The operator signed in under ``session_id``; None when it is unknown, expired, ended or its token revoked."""
    if not session_id or len(session_id) > operators.MAX_TOKEN_CHARS:
        return None
    with services.database.reading() as connection:
        found = console_sessions.find_valid(connection, session_id)
    return None if found is None else Operator(found.operator, found.role)


def sign_out(services: Services, session_id: str) -> None:
    with services.database.transaction() as session:
        console_sessions.end(session, session_id)
