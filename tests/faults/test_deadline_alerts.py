"""The deadline check under the real ``flask worker``: three workers checking at once, every second, while the
webhook receiver fails and one worker is killed.

Forty cases, of every kind, are due a known set of notifications. Three worker
processes start together, each with a check queued for it, and go on checking every
second (``DEADLINE_CHECK_INTERVAL_SECONDS=1``), so checks run side by side again and
again; the loopback HTTPS receiver answers the first posts 503; one worker is
SIGKILLed once the deliveries have begun and a fourth takes its place, as a
supervisor would start it.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from storage import notifications
from storage.db import Database
from storage.models import Notification, NotificationDelivery
from tests.faults.conftest import wait_until
from tests.receiver.jobs.alerting import SECRET, TOKEN, add_case, alerts_env, leaks
from tests.support.processes import Launcher, ServiceProcess

pytestmark = pytest.mark.slow

FAILING_POSTS = 20
WORKERS = 3


def cases_due_notifications(database: Database) -> set[tuple[str, str, int | None]]:
    """Forty cases due -5 to 34 days from today, every fifth with a failed request and every third with one
    still sent; what each is due, as (type, case or request id, threshold)."""
    service = SimpleNamespace(database=database)
    expected: set[tuple[str, str, int | None]] = set()
    for n, due_in in enumerate(range(-5, 35)):
        case_id = f"case-{n:02d}"
        requests = ("failed",) * (n % 5 == 0) + ("sent",) * (n % 3 == 0)
        add_case(service, case_id, due_in=due_in, requests=requests)
        if due_in < 0:
            expected.add(("case.overdue", case_id, None))
        elif due_in <= 7:
            expected.add(("case.due_soon", case_id, 1 if due_in <= 1 else 3 if due_in <= 3 else 7))
        if n % 5 == 0:
            expected.add(("request.failed", f"{case_id}-r0", None))
        if n % 3 == 0 and due_in < 7:  # its target, 7 days before the deadline, has passed
            expected.add(("request.late", f"{case_id}-r{1 if n % 5 == 0 else 0}", None))
    return expected


def all_sent(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        counts = notifications.delivery_counts(session)
    return sum(v for (_c, state), v in counts.items() if state == "sent"), sum(counts.values())


def events(workers: list[ServiceProcess], name: str) -> list[dict]:
    return [event for worker in workers for event in worker.events(name)]


def test_checks_racing_on_three_workers_a_failing_receiver_and_a_killed_worker_send_each_notification_once(
    launcher: Launcher, app_env, https_server, smtp_server, report
):
    """Invariant: each notification due is recorded once and its deliveries queued once, however many checks
    run at once; every delivery ends sent (the failed posts retried with backoff, a killed worker's job taken
    over after its lease); the receiver gets each webhook-id at least once and every message verifies; every
    e-mail arrives, once but for the one a killed worker may have been sending; neither the webhook URL's path
    and query nor a case's notes reach a log."""
    env = {
        **alerts_env(app_env, https_server, smtp_server),
        "REQUESTS_CA_BUNDLE": https_server.ca_bundle,
        "DEADLINE_CHECK_INTERVAL_SECONDS": "1",
        "WORKER_POLL_SECONDS": "0.2",
        "WORKER_LEASE_SECONDS": "5",
        "LOG_LEVEL": "DEBUG",
    }
    https_server.route("/hooks/gdpr/" + TOKEN, statuses=[503] * FAILING_POSTS + [200])
    database = Database(env["DATABASE_URL"])
    expected = cases_due_notifications(database)
    started = time.monotonic()
    workers = [launcher.start_worker(env) for _ in range(WORKERS)]
    wait_until(lambda: all_sent(database)[0] >= 5, timeout=60, what="the first deliveries sent")
    workers[0].kill(signal.SIGKILL)
    workers.append(launcher.start_worker(env))
    wait_until(lambda: all_sent(database) == (2 * len(expected),) * 2, timeout=120, what="every delivery sent")
    elapsed = time.monotonic() - started
    time.sleep(2)  # a few more checks, which must find nothing new
    for worker in workers[1:]:
        worker.stop()
    with database.transaction() as session:
        recorded = session.scalar(select(func.count()).select_from(Notification))
        deliveries = session.scalar(select(func.count()).select_from(NotificationDelivery))
    database.dispose()
    posted = [
        (headers["webhook-id"], Webhook(SECRET).verify(body, headers)) for _p, headers, body in https_server.posts
    ]
    sent = {
        (m["type"], m["data"].get("requestId", m["data"]["caseId"]), m["data"].get("thresholdDays"))
        for _id, m in posted
    }
    ids_posted = Counter(webhook_id for webhook_id, _m in posted)
    message_ids = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    checks = events(workers, "deadline_check.finished")
    logs = "\n".join(worker.log() for worker in workers)
    counts = report(
        due=len(expected),
        recorded=recorded,
        deliveries=deliveries,
        posts=len(posted),
        failed_posts=FAILING_POSTS,
        webhook_ids=len(ids_posted),
        emails=len(smtp_server.messages),
        checks=len(checks),
        checks_recording=sum(1 for c in checks if c["recorded"]),
        retries=len(events(workers, "job.retrying")),
        killed=1,
        leaks=len(leaks(logs)),
        seconds=round(elapsed, 1),
    )
    assert sent == expected and recorded == len(expected) and deliveries == 2 * len(expected), counts
    assert len(ids_posted) == len(expected) and len(posted) >= len(expected) + FAILING_POSTS, counts
    # At least once: the e-mail the killed worker was sending may go again when its job is taken over (the
    # same Message-ID, which mail clients fold into one); no other e-mail repeats.
    assert len(message_ids) == len(expected) and sum(n - 1 for n in message_ids.values()) <= 1, counts
    # Each refused post is retried; the killed worker may have died between a refused post and its log line.
    assert len(checks) > WORKERS and len(events(workers, "job.retrying")) >= FAILING_POSTS - 1, counts
    assert leaks(logs) == [] and "Traceback" not in logs, counts
