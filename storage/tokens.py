"""Named API tokens: stored as keyed hashes only, found by hash, revoked but never deleted.

A token is a long random string, so a fast keyed hash (HMAC-SHA256, the key
derived from ``SECRET_KEY`` by ``storage.crypto.SecretBox.token_hashes``) is
enough: nothing short enough to guess is ever hashed. A revoked token keeps its
row, so its name keeps meaning one operator in every history that names it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.clock import clock_of
from storage.db import Database
from storage.errors import StorageError
from storage.models import ApiToken


def add(session: Session, *, name: str, role: str, token_hash: str, created_by: str) -> ApiToken:
    """Store a new token; ``conflict`` when the name was ever used."""
    if session.scalars(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise StorageError("conflict", "a token with this name exists, or existed")
    token = ApiToken(name=name, role=role, token_hash=token_hash, created_by=created_by)
    session.add(token)
    session.flush()
    return token


def find_active(session: Session, token_hashes: Sequence[str]) -> ApiToken | None:
    """The unrevoked token with one of ``token_hashes`` (one per ``SECRET_KEY``, newest first)."""
    statement = select(ApiToken).where(ApiToken.token_hash.in_(token_hashes), ApiToken.revoked_at.is_(None))
    return session.scalars(statement).first()


class ActiveToken(NamedTuple):
    id: int
    name: str
    role: str
    token_hash: str


def find_active_token(database: Database, token_hashes: Sequence[str]) -> ActiveToken | None:
    """``find_active`` for the bearer check: one fixed statement on the driver's cursor, no lock, no writer's
    turn, no transaction (the ORM's statement building cost more than the read)."""
    sql = _find_active_sql(database.dialect, len(token_hashes))
    row = database.single_statement(sql, {f"h{i}": value for i, value in enumerate(token_hashes)})
    return ActiveToken(*row) if row is not None else None


@functools.cache
def _find_active_sql(dialect: str, count: int) -> str:
    names = [f"%(h{i})s" if dialect == "postgresql" else f":h{i}" for i in range(count)]
    return (
        f"SELECT id, name, role, token_hash FROM {ApiToken.__tablename__} "
        f"WHERE token_hash IN ({', '.join(names)}) AND revoked_at IS NULL LIMIT 1"
    )


def rehash(session: Session, token_id: int, *, old_hash: str, new_hash: str) -> None:
    """Store ``new_hash`` for the token, if it still has ``old_hash`` and is not revoked."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.token_hash == old_hash, ApiToken.revoked_at.is_(None))
        .values(token_hash=new_hash)
    )


def all_tokens(session: Session) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).order_by(ApiToken.name)).all()


def revoke(session: Session, name: str, *, revoked_by: str, at: dt.datetime | None = None) -> ApiToken:
    """Revoke the token named ``name``; ``not_found`` when there is none, ``conflict`` when already revoked."""
    token = session.scalars(select(ApiToken).where(ApiToken.name == name).with_for_update()).first()
    if token is None:
        raise StorageError("not_found", "no token with this name")
    if token.revoked_at is not None:
        raise StorageError("conflict", "this token is already revoked")
    token.revoked_at = at or clock_of(session).now()
    token.revoked_by = revoked_by
    return token
