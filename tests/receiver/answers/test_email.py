"""The link e-mailed to the subject through SMTP_URL from SUBJECT_EMAIL_FROM, caught by a real SMTP server."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Job
from tests.conftest import PUBLIC_URL
from tests.receiver.answers.conftest import CONTACT, CONTROLLER, run_worker
from tests.support.databases import Backend
from tests.support.scan import database_dump, occurrences


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: the storage of packages, links and downloads is proven on PostgreSQL by test_package, test_links and
    test_retention."""
    return Backend(sqlite_url)


SUBJECT = "Jane.Doe@example.org"


@pytest.fixture
def app_env(app_env, smtp_server):
    """E-mail only to subjects: no NOTIFY_EMAIL_TO is needed with SUBJECT_EMAIL_FROM."""
    return {
        **app_env,
        "SMTP_URL": f"smtp://{smtp_server.address}",
        "SUBJECT_EMAIL_FROM": "answers@acme.example",
        "NOTIFY_PRIVATE_HOSTS": smtp_server.address,
    }


@pytest.mark.parametrize(
    ("language", "subject_line", "words"),
    [
        ("en", f"Your answer from {CONTROLLER}", "You can download the answer here until"),
        ("nl", f"Uw antwoord van {CONTROLLER}", "U kunt het antwoord hier downloaden tot"),
    ],
)
def test_the_link_is_mailed_in_plain_text_and_html_and_then_forgotten(
    log_text, built_package, client, admin_headers, services, smtp_server, backend, language, subject_line, words
):
    case_id, _ = built_package("access")
    created = client.post(
        f"/api/cases/{case_id}/package/links",
        json={"email": SUBJECT, "language": language, "maxDownloads": 3},
        headers=admin_headers,
    )
    assert created.status_code == 201 and created.json["emailQueued"] is True
    secret = created.json["url"].rsplit("/", 1)[1]
    assert run_worker(services) == 1
    [mail] = smtp_server.messages
    assert (mail.mail_from, mail.rcpt_tos) == ("answers@acme.example", [SUBJECT])
    assert mail.message["Subject"] == subject_line and mail.message["Content-Language"] == language
    plain = mail.message.get_body(("plain",)).get_content()
    html = mail.message.get_body(("html",)).get_content()
    for body in (plain, html):
        assert f"{PUBLIC_URL}/answer/{secret}" in body and words in body and CONTACT in body
    package = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
    [link] = package["links"]
    assert link["emailed"] is True and link["emailSentAt"] and link["language"] == language
    history = client.get(f"/api/cases/{case_id}", headers=admin_headers).json["history"]
    assert [entry["to"] for entry in history if entry["kind"] == "link_emailed"] == [link["id"]]
    with services.database.transaction() as session:
        payloads = session.scalars(select(Job.payload_sealed).where(Job.kind == "answer_email")).all()
    assert payloads == [None]
    service_logs = [line for line in log_text().splitlines() if '"logger": "mail.log"' not in line]  # aiosmtpd's own
    kept = database_dump(backend.database_url).text + "\n".join(service_logs)
    assert occurrences(kept, (secret, SUBJECT, SUBJECT.lower())) == {secret: 0, SUBJECT: 0, SUBJECT.lower(): 0}


def test_a_relay_that_refuses_for_now_is_tried_again_and_a_revoked_link_is_not_sent(
    built_package, client, admin_headers, services, smtp_server
):
    case_id, _ = built_package("access")
    smtp_server.answer_next("451 try later")
    link = client.post(f"/api/cases/{case_id}/package/links", json={"email": SUBJECT}, headers=admin_headers).json
    run_worker(services)
    assert smtp_server.messages == []
    with services.database.transaction() as session:
        job = session.scalars(select(Job).where(Job.kind == "answer_email")).one()
        assert (job.state, job.last_error) == ("queued", f"email failed: smtp_451 at smtp://{smtp_server.address}")
    client.delete(f"/api/cases/{case_id}/package/links/{link['id']}", headers=admin_headers)
    with services.database.transaction() as session:
        session.get(Job, job.id).run_after = job.created_at
    run_worker(services)
    assert smtp_server.messages == []
    with services.database.transaction() as session:
        assert session.get(Job, job.id).state == "done" and session.get(Job, job.id).payload_sealed is None
