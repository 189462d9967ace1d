"""Signing in to the console through the organisation's identity provider, and the people who did.

``begin`` starts an authorization request and hands back, sealed, what its callback
must match (``state``, ``nonce``, the PKCE verifier, where the person was going): the
web keeps it in a short-lived cookie of the browser that started, so the answer is
bound to that browser. ``complete`` takes the provider's answer once: the ``state``
must be the one sealed for this browser and is then spent in the replay cache, so a
replayed callback signs nobody in, from this browser or another. The ID token is
verified (``receiver.identity.provider``), the role taken from its groups at every
sign-in (``receiver.identity.roles``), and the person recorded by issuer and ``sub``
(``storage.people``); their sessions name them as ``oidc:<id>``.

``list_people`` and ``end_sessions`` serve ``flask operators`` and the console's
operators page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from receiver.identity import roles
from receiver.identity.errors import IdentityError
from receiver.identity.provider import OidcProvider
from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases.console_sessions import SignedIn
from receiver.usecases.errors import UseCaseError
from receiver.usecases.operators import Operator
from storage import console_sessions, people
from storage.errors import StorageError

log = get_logger(__name__)
#: How long a browser may take at the provider before the sign-in it started is void.
PENDING_SECONDS = 600
MAX_NAME_CHARS = 200
MAX_SUBJECT_CHARS = 255


@dataclass(frozen=True)
class Pending:
    """A sign-in started in one browser, waiting for the provider's answer."""

    state: str
    nonce: str
    code_verifier: str
    next: str | None
    started_at: float

    def sealed(self, services: Services) -> str:
        return services.secrets.seal(json.dumps(asdict(self)))

    @classmethod
    def opened(cls, services: Services, sealed: str) -> Pending:
        """The pending sign-in the cookie holds; ``IdentityError`` when there is none, or it is void or too old."""
        if not sealed:
            raise IdentityError(
                "not_started",
                "This browser did not start this sign-in (or it was already completed). Start again from the "
                "sign-in page.",
            )
        try:
            pending = cls(**json.loads(services.secrets.open(sealed)))
        except (StorageError, ValueError, TypeError):
            raise IdentityError("not_started", "This sign-in cannot be completed. Start again.") from None
        if services.replay_cache.now() - pending.started_at > PENDING_SECONDS:
            raise IdentityError("expired", "This sign-in took too long. Start again from the sign-in page.")
        return pending


@dataclass(frozen=True)
class Started:
    url: str
    pending: Pending


@dataclass(frozen=True)
class PersonSignedIn:
    signed_in: SignedIn
    name: str
    next: str | None


def provider_of(services: Services) -> OidcProvider:
    if services.identity is None:
        raise UseCaseError("not_found", "Signing in through an identity provider is not configured (OIDC_ISSUER).")
    return services.identity


def begin(services: Services, *, next_path: str | None) -> Started:
    """A new authorization request at the provider; ``IdentityError`` when the provider cannot be reached."""
    authorization = provider_of(services).begin()
    pending = Pending(
        authorization.state,
        authorization.nonce,
        authorization.code_verifier,
        next_path,
        services.replay_cache.now(),
    )
    return Started(authorization.url, pending)


def complete(services: Services, *, sealed: str, state: str, code: str) -> PersonSignedIn:
    """Sign in the person the provider's answer names, once; ``IdentityError`` saying why not."""
    provider = provider_of(services)
    pending = Pending.opened(services, sealed)
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise IdentityError("state_mismatch", "This answer belongs to another sign-in. Start again.")
    if not services.replay_cache.add(_state_key(state), pending.started_at + PENDING_SECONDS + 60):
        raise IdentityError("replayed", "This sign-in was already used. Start again from the sign-in page.")
    token = provider.redeem(code, code_verifier=pending.code_verifier)
    claims = provider.verify_id_token(token["id_token"], nonce=pending.nonce, access_token=token.get("access_token"))
    settings = services.settings
    role = roles.role_for(claims, claim=settings.oidc_roles_claim, role_map=settings.oidc_role_map)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise IdentityError("invalid_id_token", "The identity provider's answer names nobody.")
    session_id = secrets.token_urlsafe(32)
    expires_at = services.clock.now() + dt.timedelta(minutes=settings.console_session_minutes)
    name = display_name(claims)
    actor = _open_session(services, provider.config.issuer, subject, name, role, session_id, expires_at)
    return PersonSignedIn(SignedIn(session_id, Operator(actor, role), expires_at), name, pending.next)


def _open_session(
    services: Services, issuer: str, subject: str, name: str, role: str, session_id: str, expires_at: dt.datetime
) -> str:
    """Record the sign-in and open the session; the person's actor. A first sign-in racing another one of the same
    person (two browsers at once) loses the insert and is tried once more, finding the person the other one added."""

    def attempt() -> str:
        with services.database.transaction() as session:
            person = people.record_sign_in(session, issuer=issuer, subject=subject, name=name, role=role)
            actor = people.actor_of(person)
            console_sessions.add(session, session_id, operator=actor, role=role, expires_at=expires_at)
        return actor

    try:
        return attempt()
    except StorageError as error:
        if error.reason != "conflict":
            raise
        return attempt()


def display_name(claims: dict[str, Any]) -> str:
    """What the console calls the person: ``name``, else ``preferred_username``, else given and family names."""
    candidates = [
        claims.get("name"),
        claims.get("preferred_username"),
        " ".join(str(claims.get(part) or "") for part in ("given_name", "family_name")),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            text = "".join(ch for ch in candidate.strip() if ch.isprintable())
            return text[:MAX_NAME_CHARS]
    return "(no name given)"


def _state_key(state: str) -> str:
    return "oidc-state:" + hashlib.sha256(state.encode()).hexdigest()


# -- the people who signed in ---------------------------------------------------------------


def list_people(services: Services) -> list[dict[str, Any]]:
    """Everyone who signed in through the provider: actor, name, role at their last sign-in, when, open sessions."""
    with services.database.reading_session() as session:
        found = people.all_people(session)
        connection = session.connection()
        return [
            {
                "actor": people.actor_of(person),
                "name": person.name,
                "role": person.role,
                "firstSignedInAt": person.first_signed_in_at.isoformat(),
                "lastSignedInAt": person.last_signed_in_at.isoformat(),
                "openSessions": console_sessions.open_sessions(connection, people.actor_of(person)),
            }
            for person in found
        ]


def end_sessions(services: Services, person: str, *, actor: str) -> dict[str, Any]:
    """End every session of ``person`` (``oidc:<id>``, the id, or a name only one person bears) at once."""
    with services.database.transaction() as session:
        found = people.find(session, person.strip())
        if found is None:
            raise UseCaseError("not_found", "No one who signed in is known by this id or name.", parameter="person")
        ended = console_sessions.end_all(session, people.actor_of(found))
    log.info("console.sessions_ended", actor=actor, person=people.actor_of(found), sessions=ended)
    return {"actor": people.actor_of(found), "name": found.name, "sessionsEnded": ended, "endedBy": actor}


@dataclass(frozen=True)
class Known:
    """A person as a history shows them: their name, and the roles they held since when (oldest first)."""

    name: str
    role: str  #: at their last sign-in
    held: tuple[tuple[str, dt.datetime], ...]

    def role_at(self, at: dt.datetime | None) -> str:
        """The role they held at ``at`` (their last one when ``at`` is unknown)."""
        return (people.role_at(self.held, at) if at is not None else None) or self.role


def signed_in_person(actor: str) -> bool:
    """Whether ``actor`` is a person who signed in through the identity provider (``oidc:<id>``)."""
    return actor.startswith(people.ACTOR_PREFIX)


def known_people(services: Services, actors: set[str]) -> dict[str, Known]:
    """The people among ``actors`` (``oidc:<id>``), by actor; any other actor is left out."""
    if not any(signed_in_person(actor) for actor in actors):
        return {}
    with services.database.reading_session() as session:
        found = people.names_of(session, actors)
        held = people.roles_held(session, [person.id for person in found.values()])
        return {actor: Known(person.name, person.role, tuple(held[person.id])) for actor, person in found.items()}


def roles_text(held: Sequence[tuple[str, dt.datetime]]) -> str:
    """``operator``, or ``viewer since 2026-12-01 09:30, operator since 2026-12-05 14:02`` when it changed."""
    if len({role for role, _ in held}) <= 1:
        return held[-1][0] if held else "unknown"
    return ", ".join(f"{role} since {since:%Y-%m-%d %H:%M}" for role, since in held)
