"""Retention running again and again while callbacks arrive, archives download and ops download archives.

Two ``flask worker`` processes run the periodic retention job every second (``RETENTION_INTERVAL_SECONDS=1``,
``ARCHIVE_RETENTION_DAYS=1``) against a versioned SeaweedFS bucket, and ``flask retention run`` is started
again and again beside them, so that runs overlap each other and the archive downloads the archive server
stalls part-way (a worker busy downloading takes no retention job). Meanwhile an operator's client keeps
downloading archives through the API. Time is moved honestly: completion and closing times are written
a few days into the past in the database, never a mocked clock in the service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import select, update

from storage.db import Database
from storage.models import Case, Job, ProcessorRequest
from tests.conftest import ADMIN_TOKEN
from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address, wait_until
from tests.support.load import GET_KIND, Answer, fire, register_requests, sign_callbacks
from tests.support.processes import PROJECT_ROOT, process_env
from tests.support.zips import StreamedZip, zip_bytes

pytestmark = pytest.mark.slow

MiB = 1 << 20
DAY = dt.timedelta(days=1)
#: Each group's requests, and what must become of their archives.
GROUPS = {
    "expired": 4,  # in no case, completed 3 days ago: deleted, every version
    "closed": 4,  # completed 4 days ago, in a case closed 3 days ago: deleted
    "open": 2,  # in a case still open, completed 10 days ago: kept
    "held": 2,  # completed 4 days ago, in a case closed 3 days ago under a legal hold: kept
    "recent": 2,  # in no case, completed today: kept
    "in_flight": 4,  # in a case closed 3 days ago (override); callback and download during the race: kept
    "arriving": 4,  # in no case; callback and download during the race: kept
}
RACE_GROUPS = ("in_flight", "arriving")
CASES = {
    "closed": "case-race-closed",
    "open": "case-race-open",
    "held": "case-race-held",
    "in_flight": "case-race-late",
}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def request_ids() -> dict[str, list[str]]:
    return {group: [f"rr-{group}-{n}" for n in range(count)] for group, count in GROUPS.items()}


def archives(ids: dict[str, list[str]]) -> dict[str, bytes | StreamedZip]:
    """Small archives, but 2 MiB ones for the downloads that race retention (stalled half-way by the server)."""
    bodies: dict[str, bytes | StreamedZip] = {}
    for group, members in ids.items():
        for n, rid in enumerate(members):
            bodies[rid] = (
                StreamedZip(2 * MiB, entry_size=MiB, seed=100 + n)
                if group in RACE_GROUPS
                else zip_bytes({"data.json": rid.encode()})
            )
    return bodies


def sha256_of(body: bytes | StreamedZip) -> str:
    chunks = body.chunks() if isinstance(body, StreamedZip) else [body]
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def open_cases(database_url: str, ids: dict[str, list[str]]) -> None:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            for case_id in CASES.values():
                session.add(
                    Case(
                        id=case_id,
                        subject_ref=f"T-{case_id}",
                        right="access",
                        jurisdiction="UK",
                        received_on=dt.date.today() - 20 * DAY,
                        due_on=dt.date.today() + 10 * DAY,
                        original_due_on=dt.date.today() + 10 * DAY,
                        calendar_country="GB",
                        calendar_subdivision="ENG",
                        created_by="fault-test",
                    )
                )
            session.flush()
            for group, case_id in CASES.items():
                session.execute(
                    update(ProcessorRequest).where(ProcessorRequest.id.in_(ids[group])).values(case_id=case_id)
                )
    finally:
        database.dispose()


def move_time(database_url: str, ids: dict[str, list[str]]) -> dt.datetime:
    """Write the past into the database at once: completions, closings and the hold, as days had gone by."""
    now = dt.datetime.now(dt.UTC)
    past, before_closing, long_ago = now - 3 * DAY, now - 4 * DAY, now - 10 * DAY
    database = Database(database_url)
    try:
        with database.transaction() as session:
            for group, when in (
                ("expired", past),
                ("open", long_ago),
                ("held", before_closing),
                ("closed", before_closing),
            ):
                session.execute(
                    update(ProcessorRequest).where(ProcessorRequest.id.in_(ids[group])).values(completed_at=when)
                )
            for group in ("closed", "held", "in_flight"):
                session.execute(
                    update(Case)
                    .where(Case.id == CASES[group])
                    .values(responded_on=past.date(), closed_at=past, closed_by="fault-test")
                )
            session.execute(
                update(Case)
                .where(Case.id == CASES["held"])
                .values(legal_hold_since=now, legal_hold_by="fault-test", legal_hold_reason="a claim")
            )
    finally:
        database.dispose()
    return now


def rows(database_url: str, ids: Iterable[str]) -> dict[str, ProcessorRequest]:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return {
                r.id: r for r in session.scalars(select(ProcessorRequest).where(ProcessorRequest.id.in_(list(ids))))
            }
    finally:
        database.dispose()


def worker_runs(database_url: str) -> list[dt.datetime]:
    """When each retention run the workers finished ended (its job's last change)."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return sorted(session.scalars(select(Job.updated_at).where(Job.kind == "retention", Job.state == "done")))
    finally:
        database.dispose()


def versions_by_key(client, bucket: str) -> dict[str, list[str]]:
    listing = client.list_object_versions(Bucket=bucket, Prefix="evidence/")
    found: dict[str, list[str]] = {}
    for item in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        found.setdefault(item["Key"], []).append(item["VersionId"])
    return found


def key_of(request_id: str) -> str:
    return f"evidence/messagebird/{request_id}.zip"


@dataclass(frozen=True)
class CliRun:
    started: dt.datetime
    ended: dt.datetime
    exit_code: int
    output: str


def run_cli_repeatedly(env: dict[str, str], stop: threading.Event, runs: list[CliRun]) -> None:
    """``flask retention run`` again and again until ``stop``, each run's times and output in ``runs``."""
    while not stop.is_set():
        started = dt.datetime.now(dt.UTC)
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "retention", "run"],
            cwd=PROJECT_ROOT,
            env=process_env(env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        runs.append(CliRun(started, dt.datetime.now(dt.UTC), done.returncode, done.stdout + done.stderr))


def download_repeatedly(
    base_url: str, ids: list[str], stop: threading.Event, outcomes: Counter[str], sha256: dict[str, str]
) -> None:
    """An operator downloading archives through the API (a presigned URL, then the object) until ``stop``.

    ``ok``: the bytes stored; ``deleted``: answered 404 because the archive was deleted (or its object gone
    after the URL was handed out); anything else is counted under its own name and fails the test."""
    while not stop.is_set():
        for rid in ids:
            answer = requests.get(f"{base_url}/api/requests/{rid}/archive", headers=ADMIN, timeout=10)
            if answer.status_code == 404 and "deleted under the retention policy" in answer.text:
                outcomes[f"deleted:{rid}"] += 1
                continue
            if answer.status_code != 200:
                outcomes[f"api {answer.status_code}:{rid}"] += 1
                continue
            fetched = requests.get(answer.json()["url"], timeout=10)
            if fetched.status_code == 404:
                outcomes[f"deleted:{rid}"] += 1
            elif fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == sha256[rid]:
                outcomes[f"ok:{rid}"] += 1
            else:
                outcomes[f"object {fetched.status_code}:{rid}"] += 1


def overlapping(run: CliRun, downloads: Iterable[tuple[dt.datetime | None, dt.datetime | None]]) -> bool:
    return any(start and end and run.started < end and start < run.ended for start, end in downloads)


def test_retention_deletes_exactly_what_is_due_while_callbacks_and_downloads_race_it(
    launcher, app_env, signer, seaweedfs, https_server, report
):
    """Invariant: with retention running in two workers and from the command line while callbacks arrive,
    archives download and ops download archives, every archive due is deleted with every version and delete
    marker and a receipt listing them, and no other archive is touched: an open case's, a held case's, a
    recent one's, nor one whose download was in flight; ops get each kept archive whole every time."""
    ids = request_ids()
    every = [rid for members in ids.values() for rid in members]
    bodies = archives(ids)
    sha256 = {rid: sha256_of(body) for rid, body in bodies.items()}
    bucket = seaweedfs.new_bucket(versioned=True)
    urls = {
        rid: https_server.route(
            f"/{rid}.zip", body, **({"stall_after": MiB, "stall": 1.0} if isinstance(body, StreamedZip) else {})
        )
        for rid, body in bodies.items()
    }
    host = urls[every[0]].split("/")[2]
    env = {
        **app_env,
        **seaweedfs.env(),
        "ARCHIVE_STORE_URL": f"s3://{bucket}/evidence",
        "ARCHIVE_ALLOWED_HOSTS": host,
        "ARCHIVE_PRIVATE_HOSTS": host,
        "REQUESTS_CA_BUNDLE": https_server.ca_bundle,
        "WORKER_POLL_SECONDS": "0.2",
        "ARCHIVE_S3_CHUNK_BYTES": str(5 * MiB),
        "RETENTION_INTERVAL_SECONDS": "1",
        "ARCHIVE_RETENTION_DAYS": "1",
        "SECRETS_RETENTION_DAYS": "1",
        "JOB_RETENTION_DAYS": "1",
        "CLIENT_ADDRESS_RETENTION_DAYS": "1",
    }
    database_url = env["DATABASE_URL"]
    register_requests(
        database_url,
        secret_key=env["SECRET_KEY"],
        signature_key=signer.signature_key,
        kinds=dict.fromkeys(every, GET_KIND),
    )
    open_cases(database_url, ids)
    web = launcher.start_web(env, workers=2)
    workers = [launcher.start_worker(env), launcher.start_worker(env)]

    before = [rid for group, members in ids.items() if group not in RACE_GROUPS for rid in members]
    answers: list[Answer] = fire(
        address(web), sign_callbacks(signer, dict.fromkeys(before, GET_KIND), data=urls), concurrency=4
    )
    wait_until(
        lambda: all(r.state == "completed" for r in rows(database_url, before).values()),
        timeout=60,
        what="the first archives stored",
    )
    client = seaweedfs.client()
    for n, rid in enumerate(ids["expired"]):  # older versions and delete markers, as earlier attempts and hands leave
        client.put_object(Bucket=bucket, Key=key_of(rid), Body=zip_bytes({"older.json": rid.encode()}))
        if n % 2 == 0:
            client.delete_object(Bucket=bucket, Key=key_of(rid))
    versions_before = versions_by_key(client, bucket)
    sha256.update({rid: _stored_sha256(client, bucket, rid) or "" for rid in ids["expired"]})  # the newest version

    racing = sign_callbacks(signer, dict.fromkeys(ids["in_flight"] + ids["arriving"], GET_KIND), data=urls)
    moved_at = move_time(database_url, ids)
    stop, cli_runs, downloads = threading.Event(), list[CliRun](), Counter[str]()
    side = [
        threading.Thread(target=lambda: answers.extend(fire(address(web), racing, concurrency=4))),
        threading.Thread(target=run_cli_repeatedly, args=(env, stop, cli_runs)),
        threading.Thread(target=download_repeatedly, args=(web.base_url, before, stop, downloads, sha256)),
    ]
    for thread in side:
        thread.start()
    due = ids["expired"] + ids["closed"]
    raced = ids["in_flight"] + ids["arriving"]

    def settled() -> bool:
        found = rows(database_url, due + raced)
        return (
            all(found[rid].archive_deleted_at is not None for rid in due)
            and all(found[rid].state == "completed" for rid in raced)
            and len(cli_runs) >= 2
        )

    wait_until(settled, timeout=90, interval=0.5, what="due archives deleted and raced downloads stored")
    runs_when_settled = len(worker_runs(database_url))
    wait_until(
        lambda: len(worker_runs(database_url)) >= runs_when_settled + 2,
        timeout=30,
        what="two more retention runs in the workers",
    )
    stop.set()
    for thread in side:
        thread.join(60)
    for worker in workers:
        assert worker.stop() == 0

    found = rows(database_url, every)
    in_workers = [at for at in worker_runs(database_url) if at >= moved_at]
    download_times = [(found[rid].archiving_at, found[rid].completed_at) for rid in raced]
    during = sum(1 for run in cli_runs if overlapping(run, download_times))
    versions_after = versions_by_key(client, bucket)
    deleted = sorted(rid for rid, row in found.items() if row.archive_deleted_at is not None)
    receipts_complete = sum(1 for rid in due if sorted(versions_before[key_of(rid)]) == receipt_versions(found[rid]))
    kept = [rid for rid in every if rid not in due]
    intact = sum(1 for rid in kept if _stored_sha256(client, bucket, rid) == sha256[rid])
    erased = sorted(rid for rid, row in found.items() if row.secrets_erased_at is not None)
    by_cli = sum(1 for rid in due if (found[rid].archive_deleted_by or "").startswith("cli:"))
    ops_ok = sum(n for outcome, n in downloads.items() if outcome.startswith("ok:"))
    ops_refused = sum(n for outcome, n in downloads.items() if outcome.startswith("deleted:"))
    ops_wrong = sorted(
        outcome
        for outcome in downloads
        if outcome.split(":")[0] not in ("ok", "deleted")
        or (outcome.startswith("deleted:") and outcome.split(":", 1)[1] not in due)
    )
    audit = audit_callbacks(database_url, answers)
    audit.archives = sum(1 for key in versions_after if key.endswith(".zip"))
    counts = report(
        **audit.counts(),
        worker_runs=len(in_workers),
        cli_runs=len(cli_runs),
        cli_runs_during_downloads=during,
        due=len(due),
        deleted=len(deleted),
        deleted_by_cli=by_cli,
        versions_deleted=sum(len(versions_before[key_of(r)]) for r in due),
        receipts_complete=receipts_complete,
        kept=len(kept),
        kept_intact=intact,
        versions_left_of_deleted=sum(len(versions_after.get(key_of(r), [])) for r in due),
        secrets_erased=len(erased),
        ops_downloads=ops_ok,
        ops_told_deleted=ops_refused,
        ops_wrong=len(ops_wrong),
    )
    assert not audit.problems and audit.accepted == len(every), counts
    assert deleted == sorted(due), f"exactly the due archives deleted: {counts}"
    assert all(not versions_after.get(key_of(rid)) for rid in due), f"no version or marker left: {counts}"
    assert receipts_complete == len(due), f"each receipt lists every version it removed: {counts}"
    assert intact == len(kept), f"every other archive still stored as it was: {counts}"
    assert during > 0, f"retention ran while downloads were in flight: {counts}"
    assert all(run.exit_code == 0 for run in cli_runs), [run.output for run in cli_runs if run.exit_code]
    assert not ops_wrong and ops_ok > 0, f"ops got every kept archive whole, a due one whole or 404: {ops_wrong}"
    assert erased == sorted(ids["expired"] + ids["closed"] + ids["open"] + ids["held"]), (
        f"the secrets of the requests that ended days ago, and only theirs: {counts}"
    )
    assert all(found[rid].archive_deletion_policy for rid in due), counts
    assert all(
        found[rid].archive_deleted_by == "service" or found[rid].archive_deleted_by.startswith("cli:") for rid in due
    ), counts


def _stored_sha256(client, bucket: str, request_id: str) -> str | None:
    try:
        body = client.get_object(Bucket=bucket, Key=key_of(request_id))["Body"]
    except client.exceptions.NoSuchKey:
        return None
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(MiB), b""):
        digest.update(chunk)
    return digest.hexdigest()


def receipt_versions(row: ProcessorRequest) -> list[str]:
    return sorted(item["versionId"] for item in json.loads(row.archive_deleted_versions or "[]"))
