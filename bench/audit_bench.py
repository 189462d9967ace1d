"""What the audit chain costs on PostgreSQL: the first seal of a busy database, a seal with nothing new, a verify,
and the tree root an anchor time-stamps.

    .venv/bin/python bench/audit_bench.py [--requests 20000]

In a fresh schema on the server named by ``TEST_POSTGRES_URL`` (default the local one,
dropped afterwards), ``--requests`` completed requests are written straight into the
database with one accepted callback and one transition each (three covered rows per
request, as after migration 0012 on a database that never sealed them), then timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import audit_chain
from storage.db import Database
from storage.models import Callback, ProcessorRequest, Transition

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def write_rows(database: Database, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    requests = [
        {
            "id": f"r-{n}",
            "provider": "messagebird",
            "kind": "KIND_USER_GET",
            "state": "completed",
            "callback_missing": False,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    callbacks = [
        {
            "provider": "messagebird",
            "request_id": f"r-{n}",
            "received_at": now,
            "verdict": "accepted",
            "status_code": 200,
            "jwt_verdict": "passed",
            "hmac_verdict": "passed",
            "has_archive_url": False,
        }
        for n in range(count)
    ]
    moves = [{"request_id": f"r-{n}", "from_state": "sent", "to_state": "completed", "at": now} for n in range(count)]
    with database.connection() as connection:
        connection.execute(insert(ProcessorRequest.__table__), requests)
        connection.execute(insert(Callback.__table__), callbacks)
        connection.execute(insert(Transition.__table__), moves)


def timed(what: str, work):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = work()
    print(f"{what:<40} {time.perf_counter() - started:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    count = parser.parse_args().requests
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        database = Database(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
        database.upgrade()
        write_rows(database, count)
        sealed = timed(f"first seal ({3 * count} entries)", lambda: audit_chain.seal(database))
        timed("seal with nothing new", lambda: audit_chain.seal(database))
        verdict = timed("audit_chain.verify", lambda: audit_chain.verify(database))
        with database.reading() as connection:
            digests = audit_chain.digests_through(connection, sealed.head.seq)
        timed(f"tree root over {len(digests)} entries", lambda: audit_chain.tree_root(digests))
        print(f"entries={verdict.entries} breaks={len(verdict.breaks)} pending={verdict.pending}")
        database.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
