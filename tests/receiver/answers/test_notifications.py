"""Ops are told when the subject downloaded the answer, and when a link expired before they did (SMTP, aiosmtpd)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from receiver.jobs.deadline_check import DEADLINE_CHECK, deadline_check_job
from receiver.jobs.worker import Worker
from storage import jobs
from storage.models import AnswerLink
from tests.conftest import PUBLIC_URL
from tests.receiver.answers.conftest import HANDLERS
from tests.support.databases import Backend


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: the storage of packages, links and downloads is proven on PostgreSQL by test_package, test_links and
    test_retention."""
    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env, smtp_server):
    return {
        **app_env,
        "SMTP_URL": f"smtp://{smtp_server.address}",
        "NOTIFY_EMAIL_TO": "dpo@acme.example",
        "NOTIFY_EMAIL_FROM": "gdpr@acme.example",
        "NOTIFY_PRIVATE_HOSTS": smtp_server.address,
    }


def run_checks(services) -> None:
    with services.database.transaction() as session:
        jobs.enqueue(session, kind=DEADLINE_CHECK, request_id=None)
    Worker(services, handlers={**HANDLERS, DEADLINE_CHECK: deadline_check_job}).run(once=True)


def subjects(smtp_server) -> list[str]:
    return [mail.message["Subject"] for mail in smtp_server.messages]


def test_the_first_complete_download_and_an_unused_expired_link_are_notified_once(
    built_package, client, admin_headers, services, smtp_server
):
    case_id, _ = built_package("access")
    unused = client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).json
    with services.database.transaction() as session:
        session.execute(
            update(AnswerLink)
            .where(AnswerLink.id == unused["id"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    run_checks(services)
    run_checks(services)
    expired = [s for s in subjects(smtp_server) if "expired before the answer was downloaded" in s]
    assert expired == [
        f"[GDPR] Case {case_id} (TICKET-21): link {unused['id']} expired before the answer was downloaded"
    ]
    used = client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).json
    for _ in range(2):
        with client.get(used["url"].removeprefix(PUBLIC_URL) + "/download") as download:
            assert download.get_data()
    Worker(services, handlers=HANDLERS).run(once=True)
    downloaded = [s for s in subjects(smtp_server) if "downloaded the answer" in s]
    assert len(downloaded) == 1 and downloaded[0].startswith(f"[GDPR] Case {case_id} (TICKET-21): the subject")
