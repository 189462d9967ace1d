"""Reconciliation raced against the genuine callbacks of the same requests, at the same moment.

The requests are finished a few at a time: MessageBird's listing (the simulator, over
HTTPS) turns each to ``STATE_CALLBACK_OK`` with a ``dataArchiveUrl`` at the moment its
genuine callback goes out through gunicorn. Reconciliation, running passes back to back
in two threads (two workers may both hold a reconcile job), would move each one on and
queue its archive, and so would its callback. Whoever comes first moves a request; the
other finds it moved: one transition, one archive job.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from app import create_app
from receiver.usecases.reconciliation import apply_listing
from storage.clock import Clock
from storage.db import Database
from storage.models import Job, Transition
from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address
from tests.support.load import GET_KIND, deliver_until_answered, register_requests, sign_callbacks
from tests.support.simulators import ACCESS_KEY

pytestmark = pytest.mark.slow

REQUESTS = 300
CHUNK = 10  # requests finished at once: their listing state and their callbacks together
RECONCILERS = 2


class Reconciler(threading.Thread):
    """Reconciliation passes back to back (the listing fetched, then applied in one transaction) until told to stop."""

    def __init__(self, services, start: threading.Event) -> None:
        super().__init__(daemon=True)
        self.services, self.start_signal = services, start
        self.stop, self.passes, self.moves, self.errors = threading.Event(), 0, 0, []

    def run(self) -> None:
        self.start_signal.wait()
        while not self.stop.is_set():
            try:
                listing = self.services.providers.messagebird.list_requests()
                with self.services.database.transaction() as session:
                    counts = apply_listing(session, self.services, listing, Clock().now())
            except Exception as error:
                self.errors.append(type(error).__name__)
                continue
            self.passes += 1
            self.moves += counts["callback_missing"]


def finish_in_chunks(simulator, web, signer, corpus):
    """For each chunk: the listing says done, and the callbacks go out at once (resent while answered 5xx)."""
    answers, final = [], []
    for start in range(0, len(corpus), CHUNK):
        chunk = corpus[start : start + CHUNK]
        for delivery in chunk:
            simulator.set_state(delivery.request_id, "STATE_CALLBACK_OK")
        every, last = deliver_until_answered(web, signer, chunk, concurrency=CHUNK)
        answers += every
        final += last
    return answers, final


def moves_and_jobs(database_url: str) -> tuple[dict[str, list[int | None]], Counter[str]]:
    """Per request, the callback id (None: reconciliation) of each move to ``callback_received``; archive jobs."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            moves: dict[str, list[int | None]] = {}
            for transition in session.scalars(select(Transition).where(Transition.to_state == "callback_received")):
                moves.setdefault(transition.request_id, []).append(transition.callback_id)
            jobs = Counter(session.scalars(select(Job.request_id).where(Job.kind == "archive")))
            return moves, jobs
    finally:
        database.dispose()


def test_reconciliation_and_callbacks_move_each_request_once(launcher, app_env, signer, messagebird_simulator, report):
    """Invariant: raced against its own callback and another reconciler, every request moves to
    ``callback_received`` exactly once (by a callback or by reconciliation), with exactly one archive
    job; every callback is answered 200 (accepted, or duplicate when reconciliation came first)."""
    kinds = {f"race-{i:04d}": GET_KIND for i in range(REQUESTS)}
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    urls = {}
    for request_id in kinds:
        listed = messagebird_simulator.add_request(
            request_id, GET_KIND, signature_key=signer.signature_key, state="STATE_SENT"
        )
        urls[request_id] = f"{messagebird_simulator.base_url}/archives/{listed.archive_token}.zip"
    corpus = sign_callbacks(signer, kinds, data=urls)
    web = launcher.start_web(app_env, workers=2)
    app = create_app(
        {
            **app_env,
            "MESSAGEBIRD_ACCESS_KEY": ACCESS_KEY,
            "MESSAGEBIRD_API_URL": messagebird_simulator.base_url,
            "CALLBACK_GRACE_SECONDS": "0",
        }
    )
    go = threading.Event()
    reconcilers = [Reconciler(app.extensions["services"], go) for _ in range(RECONCILERS)]
    try:
        for reconciler in reconcilers:
            reconciler.start()
        go.set()
        answers, final = finish_in_chunks(messagebird_simulator, address(web), signer, corpus)
    finally:
        for reconciler in reconcilers:
            reconciler.stop.set()
            reconciler.join(timeout=60)
        app.extensions["services"].close()

    moves, archive_jobs = moves_and_jobs(app_env["DATABASE_URL"])
    audit = audit_callbacks(app_env["DATABASE_URL"], answers)
    verdicts = Counter(a.verdict for a in final)
    by_reconciliation = sum(1 for m in moves.values() if m == [None])
    counts = report(
        requests=REQUESTS,
        **audit.counts(),
        duplicates=verdicts["duplicate"],
        resent=len(answers) - len(final),
        moved_by_callback=sum(1 for m in moves.values() if len(m) == 1 and m[0] is not None),
        moved_by_reconciliation=by_reconciliation,
        reconcile_moves=sum(r.moves for r in reconcilers),
        reconcile_passes=sum(r.passes for r in reconcilers),
        archive_jobs=sum(archive_jobs.values()),
        moved_twice=sum(1 for m in moves.values() if len(m) > 1),
        jobs_twice=sum(1 for n in archive_jobs.values() if n > 1),
        reconcile_errors=sum(len(r.errors) for r in reconcilers),
    )
    assert all(a.status == 200 for a in final), counts
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert set(moves) == set(kinds) and all(len(m) == 1 for m in moves.values()), counts
    assert archive_jobs == Counter(dict.fromkeys(kinds, 1)), counts
    assert sum(r.moves for r in reconcilers) == by_reconciliation, counts
    assert verdicts == Counter(accepted=REQUESTS - by_reconciliation, duplicate=by_reconciliation), counts
    assert not any(r.errors for r in reconcilers), counts
