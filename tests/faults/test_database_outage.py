"""PostgreSQL (a private cluster) crashes and comes back in the middle of a burst of callbacks."""

from __future__ import annotations

import threading
import time

import pytest

from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address, gunicorn_workers
from tests.support.databases import Backend
from tests.support.load import DELETE_KIND, Answer, deliver_until_answered, fire, register_requests, sign_callbacks

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CALLBACKS = 1500
CHUNK, CHUNK_SECONDS = 8, 0.08  # at most 100 callbacks/s, 4 at a time
OUTAGE_SECONDS = 3.0
RECOVERY_SECONDS = 3.0  # an answer sent this long after the restart must be a 200


@pytest.fixture
def backend(private_postgres) -> Backend:
    return Backend(private_postgres.url)


class PacedSender(threading.Thread):
    """Sends the corpus in small paced chunks until told to stop or out of callbacks."""

    def __init__(self, web, corpus) -> None:
        super().__init__(daemon=True)
        self.web, self.corpus = web, corpus
        self.answers: list[Answer] = []
        self.stop = threading.Event()

    def run(self) -> None:
        for start in range(0, len(self.corpus), CHUNK):
            if self.stop.is_set():
                return
            began = time.perf_counter()
            self.answers += fire(address(self.web), self.corpus[start : start + CHUNK], concurrency=4)
            time.sleep(max(0.0, began + CHUNK_SECONDS - time.perf_counter()))


def test_a_database_crash_is_answered_503_and_recovered_from_without_a_restart(
    launcher, app_env, signer, private_postgres, report
):
    """Invariant: while PostgreSQL is down every callback is answered 503 (never 200, never 500,
    never left unanswered); once it is back the same gunicorn workers answer 200 again; every 200
    has its durable row, and the 503s, re-signed and resent, are all accepted exactly once."""
    kinds = {f"outage-{i:04d}": DELETE_KIND for i in range(CALLBACKS)}
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    corpus = sign_callbacks(signer, kinds)
    web = launcher.start_web(app_env, workers=2)
    workers_before = gunicorn_workers(web)
    sender = PacedSender(web, corpus)

    sender.start()
    time.sleep(1.5)
    stopping = time.perf_counter()
    private_postgres.stop()
    down = time.perf_counter()
    time.sleep(OUTAGE_SECONDS)
    starting = time.perf_counter()
    private_postgres.start()
    up = time.perf_counter()
    time.sleep(RECOVERY_SECONDS + 2)
    sender.stop.set()
    sender.join(timeout=30)

    answers = sender.answers
    while_down = [a for a in answers if down < a.started and a.started + a.seconds < starting]
    settled = [a for a in answers if a.started > up + RECOVERY_SECONDS]
    first_200_after = min((a.started - up for a in answers if a.started > up and a.status == 200), default=None)
    retried, final = deliver_until_answered(
        address(web), signer, [signer.resign(a.delivery) for a in answers if a.status != 200], concurrency=4
    )
    audit = audit_callbacks(app_env["DATABASE_URL"], answers + retried)
    statuses = sorted({a.status or 0 for a in answers})
    counts = report(
        **audit.counts(),
        statuses=statuses,
        answered_while_down=len(while_down),
        first_200_after_restart_s=round(first_200_after or -1, 2),
        resent=len(retried),
        stop_s=round(down - stopping, 2),
    )
    assert set(statuses) <= {200, 503}, f"only 200 and 503, never 500 or no answer: {counts}"
    assert while_down and {a.status for a in while_down} == {503}, counts
    assert settled and {a.status for a in settled} == {200}, counts
    assert gunicorn_workers(web) == workers_before, f"gunicorn's workers were restarted: {counts}"
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert all(a.status == 200 for a in final), counts
    assert audit.accepted == len({a.delivery.request_id for a in answers}), counts
