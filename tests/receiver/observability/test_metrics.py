"""The database's facts at scrape time: cases by derived state, overdue, due within 7 days, requests past their
target, notification deliveries by state, how long a due job has waited and the audit chain's head; on every backend."""

from __future__ import annotations

import datetime as dt

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from receiver.observability.metrics import registry_for
from storage import audit_chain, jobs, notifications
from storage.clock import Clock
from storage.models import AuditChainEntry, Job
from tests.receiver.jobs.alerting import add_case
from tests.storage.audit_history import write_history


def scrape(services) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry_for(services.database, margin_days=7)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_cases_are_counted_by_state_overdue_due_soon_and_their_late_requests(services):
    add_case(services, "case-5d", due_in=5)
    add_case(services, "case-0d", due_in=0)
    add_case(services, "case-2d", due_in=2, requests=("sent",))  # its target passed 5 days ago
    add_case(services, "case-late", due_in=-2, requests=("completed",))
    add_case(services, "case-20d", due_in=20, requests=("failed", "sent"))
    add_case(services, "case-paused", due_in=2, paused=True)
    add_case(services, "case-closed", due_in=-3, closed=True, requests=("sent",))
    add_case(services, "case-40d", due_in=40)
    facts = scrape(services)
    by_state = {dict(labels)["state"]: value for (name, labels), value in facts.items() if name == "receiver_cases"}
    assert by_state == {"open": 4, "waiting_on_processors": 0, "ready": 1, "needs_attention": 2, "closed": 1}
    assert facts[("receiver_cases_overdue", ())] == 1  # the closed one is answered, not overdue
    assert facts[("receiver_cases_due_within_7_days", ())] == 3  # 5, 0 and 2 days; not the paused one
    assert facts[("receiver_requests_past_target", ())] == 1  # case-2d's; the closed case's request is not counted


def test_deliveries_are_counted_by_channel_and_state(services):
    add_case(services, "case-0d", due_in=0)
    with services.database.transaction() as session:
        new = notifications.NewNotification("k", "case.due_soon", "case-0d", None, 1, {"caseId": "case-0d"})
        notifications.record(session, new, channels=("webhook", "email"), now=Clock().now())
    with services.database.transaction() as session:
        session.execute(update(Job).where(Job.kind == notifications.NOTIFY).values(state=jobs.FAILED))
    facts = scrape(services)
    assert facts[("receiver_notification_deliveries", (("channel", "email"), ("state", "failed")))] == 1
    assert facts[("receiver_notification_deliveries", (("channel", "webhook"), ("state", "failed")))] == 1


def test_the_longest_wait_of_a_due_job_is_measured_not_the_age_of_planned_ones(services):
    now = Clock().now()
    with services.database.transaction() as session:
        planned = jobs.enqueue(session, kind="voodoosms_poll", request_id=None, run_after=now + dt.timedelta(hours=4))
        planned.created_at = now - dt.timedelta(days=2)  # a status poll lives for days: it is not waiting
    facts = scrape(services)
    assert facts[("receiver_job_oldest_due_seconds", ())] == 0
    assert facts[("receiver_job_oldest_age_seconds", ())] >= 2 * 86400
    with services.database.transaction() as session:
        jobs.enqueue(session, kind="archive", request_id=None, run_after=now - dt.timedelta(minutes=10))
    assert 600 <= scrape(services)[("receiver_job_oldest_due_seconds", ())] < 700


def test_the_audit_chains_head_and_its_daily_checkpoint(services):
    write_history(services.database, requests=1)
    yesterday = audit_chain.seal(services.database).head
    with services.database.transaction() as session:
        session.execute(update(AuditChainEntry).values(sealed_at=Clock().now() - dt.timedelta(days=1)))
    write_history(services.database, requests=1)
    audit_chain.seal(services.database)
    facts = scrape(services)
    midnight = Clock().now().strftime("%Y-%m-%dT00:00:00Z")
    assert facts[("receiver_audit_chain_head_seq", ())] == 16
    assert facts[("receiver_audit_chain_checkpoint_seq", ())] == yesterday.seq == 8
    assert facts[("receiver_audit_chain_checkpoint_info", (("at", midnight), ("hash", yesterday.hash)))] == 1
