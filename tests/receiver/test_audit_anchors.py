"""Anchors: the chain's head time-stamped by a TSA on loopback (``openssl ts -reply``), kept in the database and the
archive store, and the chain checked against them even when the database's own anchors are gone."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from receiver.jobs.audit_anchor import AUDIT_ANCHOR
from receiver.jobs.worker import Worker
from storage import audit_chain, jobs, registry
from storage.clock import Clock
from storage.models import AuditAnchor, Job
from tests.receiver.observability.test_metrics import scrape
from tests.storage.audit_history import tamper, write_history


def tsa_env(tsa) -> dict[str, str]:
    return {
        "AUDIT_TSA_URL": tsa.url,
        "AUDIT_TSA_CA_FILE": str(tsa.ca_file),
        "AUDIT_TSA_ALLOW_HTTP": "true",
        "AUDIT_TSA_PRIVATE_HOSTS": tsa.url.split("/")[2],
        "AUDIT_TSA_TIMEOUT_SECONDS": "1",
    }


@pytest.fixture
def app_env(app_env, tsa):
    return {**app_env, **tsa_env(tsa)}


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", *args])


def anchor_files(app_env) -> list[Path]:
    root = Path(app_env["ARCHIVE_STORE_URL"].removeprefix("file://")) / "audit" / "anchors"
    return sorted(root.glob("*")) if root.is_dir() else []


def test_an_anchor_is_kept_in_both_places_and_checks_with_openssl_alone(app, app_env, services, tsa):
    write_history(services.database)
    result = run(app, "anchor")
    assert result.exit_code == 0, result.output
    assert "anchored: seq 14, head " in result.output and tsa.url in result.output
    statement, reply = anchor_files(app_env)
    assert (statement.suffix, reply.suffix) == (".json", ".tsr")
    command = ["openssl", "ts", "-verify", "-data", str(statement), "-in", str(reply), "-CAfile", str(tsa.ca_file)]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr
    forged = statement.with_name("forged.json")
    forged.write_bytes(statement.read_bytes().replace(b'"seq":14', b'"seq":13'))
    command[4] = str(forged)
    assert subprocess.run(command, capture_output=True, check=False).returncode != 0
    again = run(app, "anchor")
    assert again.exit_code == 0 and "already anchored: seq 14" in again.output
    verified = run(app, "verify")
    assert verified.exit_code == 0, verified.output
    assert "1 anchors, the latest at seq 14 time-stamped " in verified.output


def test_without_an_authority_nothing_is_anchored_and_verify_says_so(app_env, services):
    plain = create_app({key: value for key, value in app_env.items() if not key.startswith("AUDIT_TSA")})
    try:
        write_history(plain.extensions["services"].database)
        anchored = run(plain, "anchor")
        assert anchored.exit_code == 1 and "no anchor: no time-stamping authority is configured" in anchored.output
        verified = run(plain, "verify")
        assert verified.exit_code == 0 and "no anchor exists" in verified.output
    finally:
        plain.extensions["services"].close()


def cut_tail(services, entries: int) -> None:
    """What an insider does: delete the last entries and the rows they cover, and every anchor row."""
    with services.database.reading() as connection:
        last = audit_chain.head(connection).seq
        doomed = connection.execute(
            select(audit_chain._chain.c.source, audit_chain._chain.c.row_key).where(
                audit_chain._chain.c.seq > last - entries
            )
        ).all()
    for source, key in doomed:
        tamper(services.database, f"DELETE FROM {source} WHERE id = :key", key=int(key))
    tamper(services.database, "DELETE FROM audit_chain WHERE seq > :seq", seq=last - entries)
    tamper(services.database, "DELETE FROM audit_anchors")


def test_a_cut_tail_is_named_by_the_stores_anchor_when_the_databases_are_gone(app, services):
    case_id = write_history(services.database)
    audit_chain.seal(services.database)
    with services.database.transaction() as session:  # the last entries: two downloads, rows that can go
        for _ in range(2):
            registry.record_event(session, f"{case_id}-r0", kind="archive_downloaded", actor="auditor")
    assert run(app, "anchor").exit_code == 0
    cut_tail(services, 2)
    result = run(app, "verify")  # seals again first: the shorter chain is consistent by itself
    assert result.exit_code == 1
    assert "the chain was cut: an anchor time-stamped" in result.output and "the chain ends at seq 14" in result.output
    assert "anchor_deleted: the anchor of seq 16" in result.output


def test_a_rewritten_prefix_is_named_against_the_stores_anchor(app, services):
    write_history(services.database)
    assert run(app, "anchor").exit_code == 0
    target = "UPDATE case_events SET reason = 'never opened' WHERE kind = 'opened'"
    tamper(services.database, target)
    tamper(services.database, "DELETE FROM audit_chain")  # the whole chain sealed again over the rewritten row
    tamper(services.database, "DELETE FROM audit_anchors")
    audit_chain.seal(services.database)
    assert audit_chain.verify(services.database).breaks == ()  # consistent by itself
    result = run(app, "verify")
    assert result.exit_code == 1
    assert "chain_rewritten: the chain was rewritten up to here: the anchor time-stamped" in result.output


def test_a_row_inserted_with_an_old_date_after_an_anchor_is_named_backdated(app, services):
    case_id = write_history(services.database)
    assert run(app, "anchor").exit_code == 0
    tamper(
        services.database,
        "INSERT INTO case_events (case_id, at, actor, kind, reason) VALUES (:case, :at, 'ops', 'extended', 'late')",
        case=case_id,
        at=Clock().now() - dt.timedelta(days=30),
    )
    write_history(services.database, requests=1)  # genuine rows sealed after the anchor too: not named
    result = run(app, "verify")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if " backdated: " in line]
    assert len(lines) == 1 and ": case_events " in lines[0] and "inserted after the fact" in lines[0], result.output


@pytest.mark.timing
def test_a_tsa_that_is_down_or_frozen_costs_a_bounded_wait_and_the_next_run_anchors(app, services, tsa):
    write_history(services.database)
    tsa.down()
    refused = run(app, "anchor")
    assert refused.exit_code == 1 and "http_503" in refused.output
    with tsa.frozen():
        started = time.monotonic()
        frozen = run(app, "anchor")
        waited = time.monotonic() - started
    assert frozen.exit_code == 1 and "timeout" in frozen.output
    assert waited < 5  # AUDIT_TSA_TIMEOUT_SECONDS is 1
    tsa.reset()
    assert run(app, "anchor").exit_code == 0
    with services.database.reading() as connection:
        assert connection.scalar(select(AuditAnchor.seq)) == 14


def test_the_worker_anchors_at_start_and_queues_the_next_run(services, tsa):
    write_history(services.database)
    Worker(services).run(once=True)
    with services.database.transaction() as session:
        states = [job.state for job in session.scalars(select(Job).where(Job.kind == AUDIT_ANCHOR).order_by(Job.id))]
        anchored = session.scalars(select(AuditAnchor)).all()
    assert states == [jobs.DONE, jobs.QUEUED] and len(anchored) == 1 and anchored[0].stored_uri is not None


def test_a_tsa_on_loopback_not_named_a_private_host_is_refused_before_any_request(app_env, services, tsa):
    strict = create_app({**app_env, "AUDIT_TSA_PRIVATE_HOSTS": ""})
    try:
        write_history(strict.extensions["services"].database)
        result = run(strict, "anchor")
    finally:
        strict.extensions["services"].close()
    assert result.exit_code == 1 and "address_not_allowed" in result.output
    assert tsa.requests == 0


def test_an_anchor_the_store_refused_is_written_there_by_the_next_run(app, app_env, services):
    write_history(services.database)
    root = Path(app_env["ARCHIVE_STORE_URL"].removeprefix("file://"))
    away = root.rename(root.with_name("unmounted"))  # the store is not there: it refuses every write
    try:
        assert run(app, "anchor").exit_code == 0  # kept in the database all the same
    finally:
        away.rename(root)
    with services.database.reading() as connection:
        assert connection.scalar(select(AuditAnchor.stored_uri)) is None
    assert anchor_files(app_env) == []
    write_history(services.database, requests=1)
    assert run(app, "anchor").exit_code == 0
    assert len(anchor_files(app_env)) == 4  # both anchors, statement and reply each
    with services.database.reading() as connection:
        assert None not in connection.scalars(select(AuditAnchor.stored_uri)).all()


def test_the_newest_anchor_is_in_the_metrics(app, services):
    assert scrape(services)[("receiver_audit_anchor_stamped_seconds", ())] == 0  # never anchored
    write_history(services.database)
    assert run(app, "anchor").exit_code == 0
    facts = scrape(services)
    assert facts[("receiver_audit_anchor_seq", ())] == 14
    assert abs(facts[("receiver_audit_anchor_stamped_seconds", ())] - time.time()) < 120


def test_anchors_are_not_judged_without_the_certificate_to_verify_them(app, app_env, services):
    write_history(services.database)
    assert run(app, "anchor").exit_code == 0
    unverifiable = create_app({key: value for key, value in app_env.items() if not key.startswith("AUDIT_TSA")})
    try:
        result = run(unverifiable, "verify")
    finally:
        unverifiable.extensions["services"].close()
    assert result.exit_code == 0 and "1 anchors found, none checked: AUDIT_TSA_CA_FILE is unset" in result.output
