"""A flood of 10,000 hostile deliveries: the database barely grows and genuine callbacks still get through.

The hostile mix comes from eight client addresses (``X-Forwarded-For`` through one
trusted proxy): junk JSON, forged HMACs naming unknown and known requests, JWTs signed
with a wrong key, and 70 KB bodies. Each address is refused until it reaches
``REFUSAL_RATE_LIMIT``, then answered 429 before its delivery is read. While it runs, genuine signed callbacks
arrive from MessageBird's address; the same number was sent alone first, for their
latency without the flood.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.conftest import CALLBACK_URL
from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address
from tests.support.load import (
    CALLBACK_PATH,
    DELETE_KIND,
    Answer,
    RawRequest,
    callback_json,
    fire,
    http_request,
    register_requests,
    sign_callbacks,
    with_header,
)
from verification.testing import sign_jwt

pytestmark = [pytest.mark.slow, pytest.mark.timing]

HOSTILE = 10_000
GENUINE = 300
HOSTILE_CONCURRENCY = 24
GENUINE_CONCURRENCY = 4
MESSAGEBIRD_ADDRESS = "198.51.100.1"
MAX_GROWTH_BYTES = 2 * 1024 * 1024


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "TRUSTED_PROXIES": "1"}


def hostile_corpus(known_ids: list[str], seed: int = 10) -> list[RawRequest]:
    """Five kinds of hostile delivery, shuffled, each from one of eight addresses."""
    rng = random.Random(seed)
    makers = [_junk_json, _forged_hmac_unknown, _forged_hmac_known, _jwt_with_a_wrong_key, _oversize]
    corpus = []
    for n in range(HOSTILE):
        raw_headers, body = makers[n % len(makers)](rng, n, known_ids)
        headers = {"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{n % 8 + 1}", **raw_headers}
        corpus.append(
            RawRequest(
                "", f"hostile-{n}", http_request("POST", CALLBACK_PATH, host="127.0.0.1", headers=headers, body=body)
            )
        )
    rng.shuffle(corpus)
    return corpus


def _junk_json(rng, n, known_ids):
    return {}, b'{"requestId": "x' + str(n).encode() + b'", "requestKind": ' + secrets.token_bytes(8).hex().encode()


def _forged_hmac_unknown(rng, n, known_ids):
    return {"X-MessageBird-Signature": f"t={int(time.time())},v1={secrets.token_hex(32)}"}, callback_json(
        f"ghost-{n}", DELETE_KIND
    )


def _forged_hmac_known(rng, n, known_ids):
    body = callback_json(rng.choice(known_ids), DELETE_KIND)
    return {"X-MessageBird-Signature": f"t={int(time.time())},v1={secrets.token_hex(32)}"}, body


def _jwt_with_a_wrong_key(rng, n, known_ids):
    body = callback_json(rng.choice(known_ids), DELETE_KIND)
    return {"MessageBird-Signature-JWT": sign_jwt("not-the-signing-key", CALLBACK_URL, body)}, body


def _oversize(rng, n, known_ids):
    return {}, b'{"requestId": "' + b"A" * 70_000 + b'", "requestKind": "KIND_USER_GET"}'


def database_bytes(database_url: str) -> int:
    """The database's size on disk: SQLite's file (its WAL checkpointed into it), PostgreSQL's schema."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if Path(p).exists())
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq) as connection:
        return connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()[0]


@contextmanager
def flooding(target: tuple[str, int], corpus: list[RawRequest]) -> Iterator[list[int | None]]:
    """Send ``corpus`` from another process while the block runs; the statuses it got, once it ends."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    sender = context.Process(target=_flood, args=(target, corpus, results), daemon=True)
    sender.start()
    statuses: list[int | None] = []
    try:
        yield statuses
    finally:
        statuses += results.get(timeout=300)
        sender.join(timeout=30)


def _flood(target: tuple[str, int], corpus: list[RawRequest], results) -> None:
    results.put([answer.status for answer in fire(target, corpus, concurrency=HOSTILE_CONCURRENCY)])


def p99(answers: list[Answer]) -> float:
    latencies = sorted(answer.seconds for answer in answers)
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]


def test_a_hostile_flood_leaves_the_database_small_and_genuine_callbacks_fast(launcher, app_env, signer, report):
    """Invariant: 10,000 hostile deliveries grow the database by at most 2 MiB, none is answered 200 or
    5xx, most are limited (429), and genuine callbacks sent during the flood are all accepted. Their p99
    against their p99 without the flood is reported, not asserted: a time measured beside other tests on a
    shared machine is no verdict (docs/measured-figures.md gives the figure of a quiet run)."""
    kinds = {f"genuine-{phase}-{i:03d}": DELETE_KIND for phase in ("warm", "alone", "flood") for i in range(GENUINE)}
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    genuine = [with_header(d, "X-Forwarded-For", MESSAGEBIRD_ADDRESS) for d in sign_callbacks(signer, kinds)]
    warm, alone, during = genuine[:GENUINE], genuine[GENUINE : 2 * GENUINE], genuine[2 * GENUINE :]
    hostile = hostile_corpus([d.request_id for d in during])
    web = launcher.start_web(app_env, workers=4)

    fire(address(web), warm, concurrency=GENUINE_CONCURRENCY)  # every worker's connections and caches warm
    baseline = fire(address(web), alone, concurrency=GENUINE_CONCURRENCY)
    before = database_bytes(app_env["DATABASE_URL"])
    started = time.perf_counter()
    with flooding(address(web), hostile) as flood:  # from a process of its own, as an attacker would
        genuine_during = fire(address(web), during, concurrency=GENUINE_CONCURRENCY)
    seconds = time.perf_counter() - started
    growth = database_bytes(app_env["DATABASE_URL"]) - before

    audit = audit_callbacks(app_env["DATABASE_URL"], baseline + genuine_during)
    statuses: dict[int | None, int] = {}
    for status in flood:
        statuses[status] = statuses.get(status, 0) + 1
    counts = report(
        **audit.counts(),
        hostile=len(flood),
        hostile_statuses=dict(sorted(statuses.items(), key=str)),
        flood_s=round(seconds, 1),
        growth_kib=round(growth / 1024),
        p99_alone_ms=round(p99(baseline) * 1000, 1),
        p99_during_ms=round(p99(genuine_during) * 1000, 1),
        p99_ratio=round(p99(genuine_during) / p99(baseline), 1),
    )
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert [a.verdict for a in baseline + genuine_during] == ["accepted"] * (2 * GENUINE), counts
    assert not any(status is None or status == 200 or status >= 500 for status in statuses), counts
    assert statuses.get(429, 0) > HOSTILE // 2, counts
    assert growth <= MAX_GROWTH_BYTES, counts
