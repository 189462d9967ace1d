"""Deliveries and health: refused deliveries by reason over time, readiness, the queue, the last reconciliation."""

from __future__ import annotations

import datetime as dt
import re

from storage import jobs
from storage.clock import Clock
from storage.models import Job
from tests.receiver.conftest import callback_body


def test_a_refused_delivery_is_charted_by_reason_and_listed(signed_in, deliver):
    assert deliver(callback_body("req-x"), wrong_key=True).status_code == 401
    page = signed_in.get("/ops/deliveries").text
    assert re.search(r'<rect class="reason-0" [^>]*><title>\d\d \w{3}: 1 jwt_bad_signature</title></rect>', page)
    assert re.search(r'<th scope="row">jwt_bad_signature</th><td class="num">\d+</td>', page)  # the counters
    assert re.search(r'<td>401</td><th scope="row">jwt_bad_signature</th>', page)  # the newest samples
    assert "req-x" not in page  # nothing of a refused delivery's content is kept


def test_the_chart_can_show_the_last_day_by_hour(signed_in, deliver):
    deliver(b"{not json")
    page = signed_in.get("/ops/deliveries?by=hour").text
    assert "per hour over the last day" in page
    assert re.search(r"<title>\d\d:00: 1 malformed_json</title>", page)
    assert signed_in.get("/ops/deliveries?by=week").status_code == 400


def test_no_refusal_says_so(signed_in):
    assert "No refused delivery sampled in this period." in signed_in.get("/ops/deliveries").text


def test_health_shows_the_readiness_probes_and_the_queue(signed_in, services, register):
    register("req-1")
    with services.database.transaction() as session:
        job = jobs.enqueue(session, kind=jobs.ARCHIVE, request_id="req-1")
        job.created_at = Clock().now() - dt.timedelta(minutes=7)
    page = signed_in.get("/ops/health").text
    assert re.search(r'<th scope="row">database</th><td><span class="state good">ok</span>', page)
    assert re.search(r'<dt>Jobs queued or running</dt><dd class="big">1</dd>', page)
    assert re.search(r"<dt>Oldest job's age</dt><dd class=\"big\">7 min</dd>", page)
    assert "None has run yet" in page


def test_health_shows_the_last_reconciliation(signed_in, services):
    with services.database.transaction() as session:
        session.add(
            Job(
                kind=jobs.RECONCILE,
                state=jobs.FAILED,
                last_error="MessageBird's listing: timeout",
                updated_at=Clock().now() - dt.timedelta(minutes=3),
            )
        )
        session.add(Job(kind=jobs.RECONCILE, state=jobs.DONE, updated_at=Clock().now() - dt.timedelta(hours=2)))
    page = signed_in.get("/ops/health").text
    assert re.search(r'<span class="state danger">failed</span>\s*[-0-9: ]+UTC, 3 min ago', page)
    assert "MessageBird&#39;s listing: timeout" in page


def test_health_says_when_the_database_does_not_answer(signed_in, services, monkeypatch):
    from storage.errors import StorageError

    def unavailable(**_limits: int) -> None:
        raise StorageError("unavailable", "the database does not answer")

    monkeypatch.setattr(services.database, "write_blocker", unavailable)
    monkeypatch.setattr(jobs, "queue_stats", lambda session: (_ for _ in ()).throw(StorageError("unavailable", "x")))
    page = signed_in.get("/ops/health").text
    assert re.search(r'<th scope="row">database</th><td><span class="state danger">unavailable</span>', page)
    assert "not ready" in page and "The database does not answer: the queue cannot be read." in page
