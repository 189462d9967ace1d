"""Every fact the service shows is sealed: a change made in SQL behind the service's back is named by `audit verify`.

A case lived through the service's own paths (the API, a signed callback, the subject's
answer built, linked and downloaded, the console's sign-in with a token and through the
identity provider), sealed, then changed as a database administrator would, one statement at a time:
`flask audit verify` exits 1 naming the table and row of each change, and 0 when only the
service wrote. Each test gets its own database (SQLite, PostgreSQL, PostgreSQL + Redis).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from receiver.usecases import console_sessions, operators, subject_links
from storage import answers, audit_chain, people
from storage.clock import Clock
from tests.receiver.conftest import callback_body
from tests.storage.audit_history import tamper

TODAY = Clock().now().date()
PACKAGE_BYTES = 4096
ISSUER = "https://login.example.test/realms/ops"


def days_ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


def build_package(services, case_id: str) -> str:
    """The case's answer recorded built, as the package job records it (its ZIP is not needed to seal it)."""
    with services.database.transaction() as session:
        package = answers.add_package(
            session, answers.new_package_id(), case_id=case_id, content=answers.ARCHIVES, actor="olivia", job_id=None
        )
        answers.mark_ready(
            session,
            package,
            uri=f"s3://answers/{case_id}/{package.id}.zip",
            size=PACKAGE_BYTES,
            sha256="a" * 64,
            version_id=None,
            files=[answers.PackageFile("messages.csv", "req-1", PACKAGE_BYTES - 200, "b" * 64)],
            at=Clock().now(),
        )
        return package.id


def hand_out(services, case_id: str) -> tuple[str, subject_links.SubjectLink]:
    """A link to the case's package made as the API makes it: its id, and the link as the subject's page finds it."""
    made = subject_links.create_link(services, case_id, {"maxDownloads": 3}, actor="olivia").as_json()
    found = subject_links.find_link(services, made["url"].rsplit("/", 1)[1])
    assert isinstance(found, subject_links.SubjectLink)
    return made["id"], found


def download(services, link: subject_links.SubjectLink) -> bool:
    return subject_links.record_download(
        services, link, first_byte=0, bytes_sent=PACKAGE_BYTES, client_address="203.0.113.7"
    )


def sign_in_through_the_identity_provider(services, *, role: str) -> str:
    with services.database.transaction() as session:
        person = people.record_sign_in(session, issuer=ISSUER, subject="sub-olivia", name="Olivia", role=role)
        return person.id


@pytest.fixture
def lived_case(client, services, register, deliver) -> dict[str, Any]:
    """A case opened, paused and resumed, its request answered by a signed callback, its answer built, handed out
    on a link and downloaded, the case closed; a viewer signed in with a token, a person through the identity
    provider."""
    olivia = {"Authorization": f"Bearer {operators.create_token(services, 'olivia', 'operator', actor='admin').token}"}
    viewer = operators.create_token(services, "vera", "viewer", actor="admin")
    case_id = client.post(
        "/api/cases",
        headers=olivia,
        json={"subjectRef": "TICKET-9", "right": "access", "jurisdiction": "UK", "receivedOn": days_ago(20)},
    ).json["id"]
    paused = client.post(
        f"/api/cases/{case_id}/pause", json={"reason": "identity", "date": days_ago(15)}, headers=olivia
    )
    assert paused.status_code == 200, paused.json
    assert client.post(f"/api/cases/{case_id}/resume", json={"date": days_ago(12)}, headers=olivia).status_code == 200
    register("req-1", "KIND_PERSONAL_DELETE", caseId=case_id)
    assert deliver(callback_body("req-1", "KIND_PERSONAL_DELETE")).status_code == 200
    build_package(services, case_id)
    link_id, link = hand_out(services, case_id)
    assert download(services, link)
    closed = client.post(
        f"/api/cases/{case_id}/close", headers=olivia, json={"respondedOn": days_ago(1), "deliveredBy": "secure email"}
    )
    assert closed.status_code == 200, closed.json
    signed_in = console_sessions.sign_in(services, viewer.token)
    person = sign_in_through_the_identity_provider(services, role="viewer")
    return {"id": case_id, "olivia": olivia, "session": signed_in, "link_id": link_id, "link": link, "person": person}


def verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def key_of(services, sql: str) -> str:
    with services.database.reading() as connection:
        return str(connection.exec_driver_sql(sql).scalar())


#: (what an insider does, the SQL, the table named, the SQL that finds the row's key)
CHANGES = [
    ("a closed case answered earlier", "UPDATE cases SET responded_on = '2000-01-03'", "cases", "SELECT id FROM cases"),
    ("a case received later", "UPDATE cases SET received_on = '2000-01-03'", "cases", "SELECT id FROM cases"),
    ("a pause moved", "UPDATE case_pauses SET started_on = '2000-01-03'", "case_pauses", "SELECT id FROM case_pauses"),
    ("a completed request failed", "UPDATE requests SET state = 'failed'", "requests", "SELECT id FROM requests"),
    ("a callback's verdict", "UPDATE callbacks SET verdict = 'refused'", "callbacks", "SELECT id FROM callbacks"),
    ("a callback's jti", "UPDATE callbacks SET jwt_id = 'other'", "callbacks", "SELECT id FROM callbacks"),
    (
        "a viewer made operator",
        "UPDATE api_tokens SET role = 'operator' WHERE name = 'vera'",
        "api_tokens",
        "SELECT id FROM api_tokens WHERE name = 'vera'",
    ),
    (
        "a console session made admin",
        "UPDATE console_sessions SET role = 'admin'",
        "console_sessions",
        "SELECT id_hash FROM console_sessions",
    ),
    (
        "a transition's reason",
        "UPDATE transitions SET reason = 'nothing' WHERE to_state = 'completed'",
        "transitions",
        "SELECT id FROM transitions WHERE to_state = 'completed'",
    ),
    (
        "a case event's reason",
        "UPDATE case_events SET reason = 'nothing' WHERE kind = 'paused'",
        "case_events",
        "SELECT id FROM case_events WHERE kind = 'paused'",
    ),
    (
        "a package's hash",
        f"UPDATE answer_packages SET sha256 = '{'c' * 64}'",
        "answer_packages",
        "SELECT id FROM answer_packages",
    ),
    (
        "a link's max_downloads raised",
        "UPDATE answer_links SET max_downloads = 20",
        "answer_links",
        "SELECT id FROM answer_links",
    ),
    (
        "a download's bytes_sent",
        "UPDATE answer_downloads SET bytes_sent = 1",
        "answer_downloads",
        "SELECT id FROM answer_downloads",
    ),
    (
        "a person made operator",
        "UPDATE console_people SET role = 'operator'",
        "console_people",
        "SELECT id FROM console_people",
    ),
    (
        "a person's past role",
        "UPDATE console_person_roles SET role = 'admin'",
        "console_person_roles",
        "SELECT id FROM console_person_roles",
    ),
]


def test_a_history_only_the_service_wrote_verifies_and_later_writes_are_pending(app, client, services, lived_case):
    audit_chain.seal(services.database)
    hold = client.post(
        f"/api/cases/{lived_case['id']}/legal-hold", json={"reason": "litigation"}, headers=lived_case["olivia"]
    )
    assert hold.status_code in (200, 201), hold.json
    operators.revoke_token(services, "vera", actor="admin")
    verdict = audit_chain.verify(services.database)
    assert verdict.breaks == () and verdict.pending >= 2  # the case and the token: new versions, not tampering
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert audit_chain.verify(services.database).pending == 0


@pytest.mark.parametrize(("change", "sql", "table", "key_sql"), CHANGES, ids=[change[0] for change in CHANGES])
def test_a_change_made_in_sql_is_named_with_its_table_and_row(app, services, lived_case, change, sql, table, key_sql):
    audit_chain.seal(services.database)
    key = key_of(services, key_sql)
    tamper(services.database, sql)
    result = verify(app)
    assert result.exit_code == 1, result.output
    assert f": {table} {key} rewritten: " in result.output, result.output


def test_every_change_at_once_is_named_and_a_later_seal_does_not_absorb_them(app, services, lived_case):
    audit_chain.seal(services.database)
    named = set()
    for _change, sql, table, key_sql in CHANGES:
        named.add(f"{table} {key_of(services, key_sql)}")
        tamper(services.database, sql)
    tamper(services.database, "DELETE FROM case_pauses")
    for _ in range(2):  # verify seals first: what changed outside the service is not sealed as a new version
        result = verify(app)
        assert result.exit_code == 1
        assert {f"{table} {key}" for table, key in _named(result.output)} == named
        assert "case_pauses" in result.output and "missing: the row was deleted" in result.output
    assert f"broken: {len(named)} change(s) made outside the service" in result.output  # one line per row changed


def _named(output: str) -> set[tuple[str, str]]:
    found = set()
    for line in output.splitlines():
        if line.startswith("audit chain broken at seq"):
            table, key = line.split(": ", 2)[1].split(" ")[:2]
            found.add((table, key))
    return found


def test_a_console_session_signed_out_is_not_tampering(app, services, lived_case):
    audit_chain.seal(services.database)
    console_sessions.sign_out(services, lived_case["session"].session_id)
    assert verify(app).exit_code == 0


def test_the_answers_and_the_peoples_own_changes_verify_once_sealed(app, services, lived_case):
    audit_chain.seal(services.database)
    assert download(services, lived_case["link"])  # a second complete download: a new row, the link counts it
    assert audit_chain.verify(services.database).breaks == ()  # counted by an UPDATE statement, versioned as well
    subject_links.revoke_link(services, lived_case["id"], lived_case["link_id"], actor="olivia")
    assert sign_in_through_the_identity_provider(services, role="operator") == lived_case["person"]  # a new role
    with services.database.transaction() as session:  # the retention erases the addresses: no new version
        assert answers.forget_download_addresses(session, before=Clock().now() + dt.timedelta(seconds=1)) == 2
    verdict = audit_chain.verify(services.database)
    assert verdict.breaks == () and verdict.pending >= 4  # the link, the new download, the person, the new role
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert audit_chain.verify(services.database).pending == 0


def test_the_subjects_answer_is_in_its_cases_chain_entries(services, lived_case):
    audit_chain.seal(services.database)
    with services.database.reading() as connection:
        entries = audit_chain.case_entries(connection, lived_case["id"])
    sources = {entry.source for entry in entries}
    assert {"answer_packages", "answer_links", "answer_downloads"} <= sources
    assert all(entry.matches_row for entry in entries)
    (link,) = [entry for entry in entries if entry.source == "answer_links"]
    assert '"secret_hash_sha256":' in link.encoding and '"secret_hash":' not in link.encoding  # only a hash of it
    (download_entry,) = [entry for entry in entries if entry.source == "answer_downloads"]
    assert "203.0.113.7" not in download_entry.encoding and "client_address" not in download_entry.encoding
