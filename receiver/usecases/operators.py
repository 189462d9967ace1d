"""Named operators: API tokens with a role, and what each role may do.

    role      read  act  export  metrics
    viewer     ✓
    operator   ✓     ✓     ✓       ✓
    auditor    ✓           ✓
    metrics                        ✓

*read* is every GET of the API; *act* sends, retries, imports, opens and changes
cases; *export* takes evidence out (an archive download); *metrics* is ``/metrics``.
``ADMIN_TOKEN`` is the bootstrap operator named ``admin``. Tokens are made with
``flask tokens create``: the token is shown once and only its keyed hash is stored.
The operator's name is the ``actor`` every action records.

Authenticating reads only: a wrong token writes nothing and takes no writer's turn.
A token found under an older ``SECRET_KEY`` is re-hashed under the newest, a write
tried at most once per ``REHASH_INTERVAL_SECONDS`` per token and process (a failed
one is tried again then; the caller is let in either way).
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases.errors import UseCaseError
from storage import tokens
from storage.errors import StorageError
from storage.models import ApiToken

READ, ACT, EXPORT, METRICS = "read", "act", "export", "metrics"
VIEWER, OPERATOR, AUDITOR, METRICS_ROLE = "viewer", "operator", "auditor", "metrics"
PERMISSIONS: dict[str, frozenset[str]] = {
    VIEWER: frozenset({READ}),
    OPERATOR: frozenset({READ, ACT, EXPORT, METRICS}),
    AUDITOR: frozenset({READ, EXPORT}),
    METRICS_ROLE: frozenset({METRICS}),
}
ROLES = tuple(PERMISSIONS)
#: The bootstrap operator, whose token is ``ADMIN_TOKEN``.
ADMIN = "admin"
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: Longer bearer values are refused before they are hashed.
MAX_TOKEN_CHARS = 256
TOKEN_PREFIX = "gdpr_"
#: How often one process tries to re-hash one token found under an older ``SECRET_KEY``.
REHASH_INTERVAL_SECONDS = 60.0

log = get_logger(__name__)


@dataclass(frozen=True)
class Operator:
    """Who is calling, and with which role."""

    name: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is the only time it exists outside the caller's hands."""

    record: ApiToken
    token: str


def authenticate(services: Services, token: str) -> Operator | None:
    """The operator ``token`` belongs to, or None: ``ADMIN_TOKEN`` first (constant time), then the stored hashes."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    if hmac.compare_digest(token.encode(), services.settings.admin_token.encode()):
        return Operator(ADMIN, OPERATOR)
    hashes = services.secrets.token_hashes(token)
    found = tokens.find_active_token(services.database, hashes)
    if found is None or not any(hmac.compare_digest(found.token_hash, h) for h in hashes):
        return None
    if found.token_hash != hashes[0] and _REHASHES.due(found.token_hash):
        _rehash(services, found, hashes[0])  # made under an older SECRET_KEY: hashed under the newest from now on
    return Operator(found.name, found.role)


class _Throttle:
    """When each key's write was last tried in this process; ``due`` says whether to try it now."""

    MAX_KEYS = 10_000

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._tried: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._tried.get(key, -self._interval) < self._interval:
                return False
            if len(self._tried) >= self.MAX_KEYS:
                self._tried.clear()
            self._tried[key] = now
            return True


_REHASHES = _Throttle(REHASH_INTERVAL_SECONDS)


def _rehash(services: Services, found: tokens.ActiveToken, newest_hash: str) -> None:
    try:
        with services.database.transaction() as session:
            tokens.rehash(session, found.id, old_hash=found.token_hash, new_hash=newest_hash)
    except StorageError as error:
        log.warning("token.rehash_failed", operator=found.name, reason=error.reason)


def create_token(services: Services, name: str, role: str, *, actor: str) -> NewToken:
    """A new random token for ``name`` with ``role``; ``conflict`` when the name is taken (even revoked)."""
    _check_name(name)
    if role not in PERMISSIONS:
        raise UseCaseError("invalid", f"role must be one of {', '.join(ROLES)}", parameter="role")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with services.database.transaction() as session:
            record = tokens.add(
                session, name=name, role=role, token_hash=services.secrets.token_hashes(token)[0], created_by=actor
            )
    except StorageError as error:
        if error.reason != "conflict":
            raise
        raise UseCaseError(
            "conflict",
            "a token with this name exists or existed; names are never reused",
            reason="name_taken",
            parameter="name",
        ) from None
    return NewToken(record, token)


def list_tokens(services: Services) -> list[ApiToken]:
    with services.database.transaction() as session:
        return list(tokens.all_tokens(session))


def revoke_token(services: Services, name: str, *, actor: str) -> ApiToken:
    try:
        with services.database.transaction() as session:
            return tokens.revoke(session, name, revoked_by=actor)
    except StorageError as error:
        if error.reason == "not_found":
            raise UseCaseError("not_found", "no token with this name", parameter="name") from None
        if error.reason == "conflict":
            raise UseCaseError("conflict", "this token is already revoked", reason="already_revoked") from None
        raise


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise UseCaseError(
            "invalid", "name must be 1 to 64 characters: lower-case letters, digits, '.', '_', '-'", parameter="name"
        )
    if name == ADMIN:
        raise UseCaseError("conflict", "admin is the ADMIN_TOKEN's operator", reason="name_taken", parameter="name")
