"""The answers' records: packages replaced with their links, downloads counted, addresses forgotten, unused links."""

from __future__ import annotations

import datetime as dt

from storage import answers
from storage.db import Database
from storage.models import Case

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


def add_case(database: Database, case_id: str = "case-1") -> str:
    with database.transaction() as session:
        session.add(
            Case(
                id=case_id,
                subject_ref=f"T-{case_id}",
                right="access",
                jurisdiction="EU",
                received_on=dt.date(2026, 12, 1),
                due_on=dt.date(2027, 1, 1),
                original_due_on=dt.date(2027, 1, 1),
                created_by="olivia",
            )
        )
    return case_id


def ready_package(database: Database, case_id: str) -> tuple[str, list[str]]:
    """A package built for the case: its id and the links it revoked."""
    with database.transaction() as session:
        package = answers.add_package(
            session, answers.new_package_id(), case_id=case_id, content=answers.ARCHIVES, actor="olivia", job_id=None
        )
        files = [answers.PackageFile("index.json", None, 10, "a" * 64)]
        revoked = answers.mark_ready(
            session, package, uri="file:///p.zip", size=100, sha256="b" * 64, version_id=None, files=files, at=NOW
        )
        return package.id, revoked


def add_link(database: Database, package_id: str, secret_hash: str, *, expires_at: dt.datetime = NOW) -> str:
    with database.transaction() as session:
        package = answers.find_package(session, package_id)
        link = answers.add_link(
            session,
            package=package,
            secret_hash=secret_hash,
            actor="olivia",
            expires_at=expires_at,
            max_downloads=2,
            language="en",
            email_hash=None,
        )
        return link.id


def test_a_new_build_replaces_the_package_and_revokes_its_links(database):
    case_id = add_case(database)
    first, _ = ready_package(database, case_id)
    link_id = add_link(database, first, "1" * 64)
    second, revoked = ready_package(database, case_id)
    assert revoked == [link_id]
    with database.transaction() as session:
        assert answers.current_package(session, case_id).id == second
        assert answers.find_package(session, first).state == answers.REPLACED
        link = answers.find_link_by_hash(session, ["0" * 64, "1" * 64])
        assert (link.id, link.revoked_reason) == (link_id, answers.REVOKED_REBUILT)
        assert [file.name for file in answers.files_of(answers.find_package(session, second))] == ["index.json"]


def test_complete_downloads_are_counted_and_addresses_forgotten(database):
    package_id, _ = ready_package(database, add_case(database))
    link_id = add_link(database, package_id, "2" * 64)
    for at, complete in ((NOW, False), (NOW + dt.timedelta(minutes=1), True), (NOW + dt.timedelta(days=40), True)):
        with database.transaction() as session:
            link = answers.find_link(session, link_id, for_update=True)
            answers.add_download(
                session,
                link,
                at=at,
                first_byte=0,
                bytes_sent=100 if complete else 10,
                complete=complete,
                package_sha256="b" * 64,
                client_address="203.0.113.9",
            )
    with database.transaction() as session:
        link = answers.find_link(session, link_id)
        assert (link.complete_downloads, link.first_complete_at) == (2, NOW + dt.timedelta(minutes=1))
        assert answers.forget_download_addresses(session, before=NOW + dt.timedelta(days=30)) == 2
        kept = [d.client_address for d in answers.downloads_of(session, [link_id])[link_id]]
        assert kept == [None, None, "203.0.113.9"]


def test_an_expired_link_is_unused_only_while_no_link_of_its_case_was_downloaded(database):
    first_case, second_case = add_case(database, "case-a"), add_case(database, "case-b")
    unused = add_link(database, ready_package(database, first_case)[0], "3" * 64, expires_at=NOW)
    package_b, _ = ready_package(database, second_case)
    add_link(database, package_b, "4" * 64, expires_at=NOW)
    downloaded = add_link(database, package_b, "5" * 64, expires_at=NOW + dt.timedelta(days=9))
    with database.transaction() as session:
        answers.find_link(session, downloaded).first_complete_at = NOW
    with database.transaction() as session:
        found = answers.expired_unused_links(session, now=NOW + dt.timedelta(seconds=1))
        assert [link.id for link, _ in found] == [unused]
