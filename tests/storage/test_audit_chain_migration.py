"""Migration 0014 re-links a v1 chain in the v2 format, and refuses one that no longer verifies; 0016 versions the
subject's answer and the console's people, whose rows written before are sealed as version 1."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from storage import audit_chain
from storage.db import Database, alembic_config
from tests.support.databases import POSTGRES_URL, _libpq_url, create_schema, postgres_schema_url, skip_or_fail

AT = "2026-12-05 09:30:00.000000"
ROWS = [
    (1, "r-1", None, "sent", "created", None, None),
    (2, "r-1", "sent", "completed", "callback", None, None),
]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path, postgres_available) -> Iterator[str]:
    """An empty database: a SQLite file, or a schema of its own on the PostgreSQL server (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if postgres_available:
        skip_or_fail(postgres_available)
    schema = f"m_{uuid.uuid4().hex[:12]}"
    create_schema(schema)
    try:
        yield postgres_schema_url(schema)
    finally:
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _migrate(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _v1_chain(url: str, *, tampered: bool = False) -> None:
    """Two transitions and their v1 chain entries, written as release 0011 wrote them."""
    engine = create_engine(url)
    prev = "0" * 64
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO requests (id, provider, kind, state, callback_missing, created_at, updated_at) "
                "VALUES ('r-1', 'messagebird', 'KIND_USER_GET', 'completed', false, :at, :at)"
            ),
            {"at": AT},
        )
        for seq, (row_id, request_id, from_state, to_state, reason, callback_id, actor) in enumerate(ROWS, start=1):
            connection.execute(
                text(
                    "INSERT INTO transitions (id, request_id, from_state, to_state, at, reason) "
                    "VALUES (:id, :request_id, :from_state, :to_state, :at, :reason)"
                ),
                {
                    "id": row_id,
                    "request_id": request_id,
                    "from_state": from_state,
                    "to_state": to_state,
                    "at": AT,
                    "reason": reason,
                },
            )
            encoded = json.dumps(
                {
                    "table": "transitions",
                    "id": row_id,
                    "request_id": request_id,
                    "from_state": from_state,
                    "to_state": to_state,
                    "at": "2026-12-05T09:30:00.000000Z",
                    "reason": reason,
                    "callback_id": callback_id,
                    "actor": actor,
                },
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode()
            entry = hashlib.sha256(bytes.fromhex(prev) + encoded).hexdigest()
            connection.execute(
                text(
                    "INSERT INTO audit_chain (seq, source, row_id, prev_hash, entry_hash, sealed_at) "
                    "VALUES (:seq, 'transitions', :row_id, :prev, :entry, :at)"
                ),
                {"seq": seq, "row_id": row_id, "prev": prev, "entry": entry, "at": AT},
            )
            prev = entry
        if tampered:
            connection.execute(text("UPDATE transitions SET reason = 'nothing' WHERE id = 2"))
    engine.dispose()


def test_a_v1_chain_is_verified_then_relinked(empty_url):
    url = empty_url
    _migrate(url, "0011")
    _v1_chain(url)
    _migrate(url, "head")
    database = Database(url)
    verdict = audit_chain.verify(database)
    assert (verdict.breaks, verdict.entries) == ((), 2)
    assert verdict.pending == 1  # the request: covered from v2 on, sealed by the next run
    database.dispose()


def test_a_v1_chain_that_does_not_verify_stops_the_migration(empty_url):
    url = empty_url
    _migrate(url, "0011")
    _v1_chain(url, tampered=True)
    with pytest.raises(RuntimeError, match=r"does not verify at seq 2 \(transitions 2\)"):
        _migrate(url, "head")


#: A subject's answer handed out and downloaded, a person signed in: as release 0015 wrote them.
ANSWER_AND_PEOPLE = [
    "INSERT INTO cases (id, subject_ref, subject_right, jurisdiction, received_on, due_on, original_due_on, "
    "created_at, created_by, updated_at) VALUES ('c-1', 'T-1', 'access', 'EU', '2026-12-01', '2027-01-01', "
    "'2027-01-01', :at, 'ops', :at)",
    "INSERT INTO answer_packages (id, case_id, state, content, requested_at, requested_by, bytes, sha256) "
    "VALUES ('pkg-1', 'c-1', 'ready', 'archives', :at, 'ops', 10, :hash)",
    "INSERT INTO answer_links (id, package_id, case_id, secret_hash, created_at, created_by, expires_at, "
    "max_downloads, language, complete_downloads) VALUES ('lnk-1', 'pkg-1', 'c-1', :hash, :at, 'ops', :at, 3, 'en', 1)",
    "INSERT INTO answer_downloads (id, link_id, at, first_byte, bytes_sent, complete, package_sha256, client_address) "
    "VALUES (1, 'lnk-1', :at, 0, 10, true, :hash, '203.0.113.7')",
    "INSERT INTO console_people (id, issuer, subject, name, role, first_signed_in_at, last_signed_in_at) "
    "VALUES ('p-1', 'https://login.example.test', 'sub-1', 'Olivia', 'viewer', :at, :at)",
    "INSERT INTO console_person_roles (id, person_id, role, since) VALUES (1, 'p-1', 'viewer', :at)",
]


def test_answers_and_people_written_before_their_row_versions_are_sealed_as_version_1(empty_url):
    url = empty_url
    _migrate(url, "0015")
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in ANSWER_AND_PEOPLE:
            connection.execute(text(statement), {"at": AT, "hash": "a" * 64})
    engine.dispose()
    _migrate(url, "head")
    database = Database(url)
    assert audit_chain.verify(database).pending == len(ANSWER_AND_PEOPLE)
    assert audit_chain.seal(database).count == len(ANSWER_AND_PEOPLE)
    verdict = audit_chain.verify(database)
    assert (verdict.breaks, verdict.entries, verdict.pending) == ((), len(ANSWER_AND_PEOPLE), 0)
    with database.reading() as connection:
        entries = connection.execute(text("SELECT source, row_version FROM audit_chain")).all()
    versions = {entry.source: entry.row_version for entry in entries}
    assert versions["answer_links"] == versions["answer_packages"] == versions["console_people"] == 1
    database.dispose()


def test_dates_are_plain_iso_days():
    assert audit_chain._plain(dt.date(2026, 1, 2)) == "2026-01-02"
