"""The durable-ack floor: the cheapest endpoint our stack can answer only after a commit.

``POST /floor`` reads the body, inserts one row (its SHA-256 and size) and commits,
through the same ``storage.db.Database`` (so the same SQLite pragmas and one-writer
turn, the same PostgreSQL pool) under the same gunicorn settings as the service.
Nothing can acknowledge a callback durably for less, so ``bench/callback_bench.py``
measures the callback endpoint against it as well as against ``GET /healthz``.

    gunicorn -c gunicorn.conf.py 'bench.floor_app:create_floor_app()'      (the service's environment)
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, jsonify, request
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from settings import load_settings
from storage.db import Database

metadata = MetaData()
floor_acks = Table(
    "bench_floor_acks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body_sha256", String(64), nullable=False),
    Column("body_bytes", Integer, nullable=False),
)
_INSERT_ACK = insert(floor_acks)


def create_floor_tables(database_url: str) -> None:
    """Create the floor's one table (the bench calls it before starting gunicorn)."""
    database = Database(database_url)
    metadata.create_all(database.engine)
    database.dispose()


def create_floor_app() -> Flask:
    settings = load_settings(os.environ)
    database = Database(settings.database_url, timeout_seconds=settings.database_timeout_seconds)
    app = Flask(__name__)

    @app.post("/floor")
    def acknowledge() -> tuple[object, int]:
        body = request.get_data(cache=False)
        with database.connection() as connection:
            connection.execute(_INSERT_ACK, {"body_sha256": hashlib.sha256(body).hexdigest(), "body_bytes": len(body)})
        return jsonify(status="accepted"), 200

    @app.get("/healthz")
    def healthz() -> object:
        return jsonify(status="ok")

    return app
