"""The same signed callback delivered to two gunicorn servers at the same moment, many times over."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address
from tests.support.databases import Backend
from tests.support.load import DELETE_KIND, Answer, register_requests, run_apart, send, sign_callbacks

pytestmark = pytest.mark.slow

REQUESTS = 40
COPIES = 4  # per request: two to each server, all at once
BATCH = 8  # requests raced at a time: 32 connections


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every replay cache: the database's (SQLite, PostgreSQL) and Redis beside PostgreSQL."""
    if request.param == "sqlite":
        return Backend(request.getfixturevalue("sqlite_url"))
    replay = request.getfixturevalue("redis_url") if request.param.endswith("redis") else None
    return Backend(request.getfixturevalue("postgres_url"), replay)


async def race(servers: list[tuple[str, int]], deliveries) -> list[Answer]:
    answers: list[Answer] = []
    for start in range(0, len(deliveries), BATCH):
        batch = deliveries[start : start + BATCH]
        answers += await asyncio.gather(
            *(send(servers[copy % 2], delivery, 15) for delivery in batch for copy in range(COPIES))
        )
    return answers


def test_one_callback_raced_through_two_servers_is_accepted_once(launcher, app_env, signer, report):
    """Invariant: the same signed callback (same token) sent four times at once, two copies to each
    of two gunicorn servers, is accepted exactly once; the three others are answered ``duplicate``
    (a resend: nothing recorded, nothing changed)."""
    kinds = {f"race-{i:03d}": DELETE_KIND for i in range(REQUESTS)}
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    servers = [address(launcher.start_web(app_env, workers=2)) for _ in range(2)]
    answers = run_apart(race(servers, sign_callbacks(signer, kinds)))

    by_request: dict[str, list[str]] = defaultdict(list)
    for answer in answers:
        by_request[answer.delivery.request_id].append(answer.verdict or str(answer.status))
    audit = audit_callbacks(app_env["DATABASE_URL"], answers)
    wrong = {
        rid: sorted(verdicts)
        for rid, verdicts in by_request.items()
        if sorted(verdicts) != ["accepted"] + ["duplicate"] * (COPIES - 1)
    }
    counts = report(
        **audit.counts(), answered_duplicate=sum(a.verdict == "duplicate" for a in answers), wrong=len(wrong)
    )
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert not wrong, f"{counts}: {dict(list(wrong.items())[:5])}"
    assert audit.accepted == audit.records == REQUESTS and audit.ok == REQUESTS * COPIES, counts
