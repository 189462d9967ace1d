"""gunicorn workers SIGKILLed under load with the Redis replay cache, then every delivery resent identically.

Redis cannot join the database's transaction: a delivery's replay keys are set in Redis
before its record is committed. A worker killed between the two leaves the keys behind
with nothing recorded. MessageBird stops retrying on a 200, so an identical resend of
that delivery must not be answered ``duplicate``: it is recorded as new.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import ProcessorRequest
from tests.faults.audit import audit_callbacks
from tests.faults.conftest import Killer, address, gunicorn_workers, wait_until
from tests.support.databases import Backend
from tests.support.load import DELETE_KIND, GET_KIND, Answer, RawRequest, fire, register_requests, sign_callbacks

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CALLBACKS = 300
CONCURRENCY = 16
KILLS = 6
ARCHIVE_URL = "https://files.test/archive.zip"  # queued only: no archive worker runs here


@pytest.fixture(params=["sqlite+redis", pytest.param("postgres+redis", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Either database, with the Redis replay cache."""
    database = request.param.split("+")[0]
    return Backend(request.getfixturevalue(f"{database}_url"), request.getfixturevalue("redis_url"))


def resend_identically(server: tuple[str, int], deliveries: list[RawRequest], rounds: int = 6) -> list[Answer]:
    """Send the same bytes again, and again what got no answer or a 5xx."""
    every: list[Answer] = []
    for _ in range(rounds):
        answers = fire(server, deliveries, concurrency=CONCURRENCY)
        every += answers
        deliveries = [answer.delivery for answer in answers if answer.retryable]
        if not deliveries:
            break
    return every


def unrecorded(database_url: str) -> list[str]:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return list(session.scalars(select(ProcessorRequest.id).where(ProcessorRequest.state == "sent")))
    finally:
        database.dispose()


def test_no_request_is_left_unrecorded_when_workers_die_between_redis_and_the_database(
    launcher, app_env, signer, report
):
    """Invariant: after the kills and an identical resend of every delivery, every request is
    recorded (none left ``sent``), every 200 has its row, and each request was accepted once."""
    kinds = {f"rk-{i:04d}": GET_KIND if i % 3 == 0 else DELETE_KIND for i in range(CALLBACKS)}
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    corpus = sign_callbacks(signer, kinds, data={rid: ARCHIVE_URL for rid, kind in kinds.items() if kind == GET_KIND})
    web = launcher.start_web(app_env, workers=4)
    killer = Killer(web, kills=KILLS, deliveries=len(corpus))

    first = fire(address(web), corpus, concurrency=CONCURRENCY, on_answer=killer.answered)
    wait_until(lambda: len(gunicorn_workers(web)) == 4, timeout=20, what="gunicorn back at 4 workers")
    resent = resend_identically(address(web), corpus)

    audit = audit_callbacks(app_env["DATABASE_URL"], first + resent)
    left = unrecorded(app_env["DATABASE_URL"])
    counts = report(
        **audit.counts(),
        kills=len(killer.killed),
        cut_in_flight=sum(a.status is None for a in first),
        resends_accepted=sum(a.verdict == "accepted" for a in resent),
        left_sent=len(left),
    )
    assert len(killer.killed) == KILLS and any(a.status is None for a in first), f"kills cut nothing: {counts}"
    assert not left, f"{counts}: never recorded: {left[:5]}"
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert audit.accepted == CALLBACKS, counts
    final = {answer.delivery.request_id: answer.status for answer in resent}
    assert set(final.values()) == {200}, counts
