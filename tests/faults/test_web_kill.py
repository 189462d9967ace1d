"""gunicorn workers killed with ``kill -9`` in the middle of requests, under load."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Job
from tests.faults.audit import audit_callbacks
from tests.faults.conftest import Killer, address, gunicorn_workers, wait_until
from tests.support.load import DELETE_KIND, GET_KIND, deliver_until_answered, fire, register_requests, sign_callbacks

pytestmark = pytest.mark.slow

CALLBACKS = 900
CONCURRENCY = 16
KILLS = 6
ARCHIVE_URL = "https://files.test/archive.zip"  # queued only: no archive worker runs here


def queued_archive_jobs(database_url: str) -> dict[str, int]:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            rows = session.execute(
                select(Job.request_id, func.count(Job.id)).where(Job.kind == "archive").group_by(Job.request_id)
            )
            return dict(rows.all())
    finally:
        database.dispose()


def test_workers_killed_mid_request_lose_no_acknowledged_callback(launcher, app_env, signer, report):
    """Invariant: every 200 the sender got has its durable row, and an accepted request moved on
    (a GET with an archive URL has exactly one archive job); no request is accepted twice, even
    though the sender re-signs and resends whatever got no answer or a 5xx; a resend of an accepted
    delivery is answered duplicate and records nothing."""
    kinds = {f"kill-{i:04d}": GET_KIND if i % 3 == 0 else DELETE_KIND for i in range(CALLBACKS)}
    gets = [rid for rid, kind in kinds.items() if kind == GET_KIND]
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    corpus = sign_callbacks(signer, kinds, data=dict.fromkeys(gets, ARCHIVE_URL))
    web = launcher.start_web(app_env, workers=4)
    killer = Killer(web, kills=KILLS, deliveries=len(corpus))

    first = fire(address(web), corpus, concurrency=CONCURRENCY, on_answer=killer.answered)
    cut = [answer for answer in first if answer.status is None]
    retried, final = deliver_until_answered(
        address(web), signer, [signer.resign(a.delivery) for a in first if a.retryable], concurrency=CONCURRENCY
    )
    replays = fire(address(web), [a.delivery for a in first if a.verdict == "accepted"][:30], concurrency=4)
    wait_until(lambda: len(gunicorn_workers(web)) == 4, timeout=20, what="gunicorn back at 4 workers")

    audit = audit_callbacks(app_env["DATABASE_URL"], first + retried + replays)
    jobs = queued_archive_jobs(app_env["DATABASE_URL"])
    counts = report(
        **audit.counts(),
        kills=len(killer.killed),
        cut_in_flight=len(cut),
        resent=len(retried),
        other_statuses=sorted({a.status for a in first if a.status not in (200, None)}),
    )
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert len(killer.killed) == KILLS and cut, f"the kills must cut requests in flight: {counts}"
    assert all(a.status == 200 for a in final) and {a.delivery.request_id for a in final} >= {
        a.delivery.request_id for a in first if a.retryable
    }, counts
    assert audit.accepted == CALLBACKS, counts
    assert jobs == dict.fromkeys(gets, 1), f"archive jobs per GET request: {counts}"
    assert {a.verdict for a in replays} == {"duplicate"}, counts
