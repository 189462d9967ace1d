"""A history to seal: a case, its requests moved and downloaded; and tampering with it as an intruder would."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from storage import case_registry, lifecycle, registry
from storage.db import Database
from storage.models import Case

AT = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)


def write_history(database: Database, *, requests: int = 2) -> str:
    """A case with ``requests`` requests, each moved twice and downloaded once: 1 + 5 chained rows per request
    (3 transitions, 1 request event, 1 case event ``request_added``; and the case's ``opened`` event)."""
    case_id = f"case-{uuid.uuid4().hex[:12]}"  # unique across processes too
    with database.transaction() as session:
        case = Case(
            id=case_id,
            subject_ref=f"T-{case_id}",
            right="access",
            jurisdiction="UK",
            received_on=AT.date(),
            due_on=AT.date(),
            original_due_on=AT.date(),
            created_by="ops",
        )
        session.add(case)
        case_registry.record_event(case, actor="ops", kind="opened", reason="Grüße: non-ASCII is kept as it is")
        session.flush()
        for n in range(requests):
            request = registry.register(
                session,
                registry.NewRequest(
                    id=f"{case_id}-r{n}",
                    provider=registry.MESSAGEBIRD,
                    kind="KIND_USER_GET",
                    case_id=case_id,
                    registered_by="ops",
                ),
            )
            lifecycle.move(request, lifecycle.CALLBACK_RECEIVED, reason="callback")
            lifecycle.move(request, lifecycle.COMPLETED, reason="archived")
            session.flush()
            registry.record_event(session, request.id, kind="archive_downloaded", actor="auditor", note="file")
    return case_id


def tamper(database: Database, statement: str, **parameters: object) -> None:
    """Change the database behind the service's back, in SQL."""
    with database.transaction() as session:
        session.execute(text(statement), parameters)
