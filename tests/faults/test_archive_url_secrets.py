"""Archive URLs are bearer secrets: downloads that fail (and one that succeeds) leave no trace of them.

Each request's callback points at a URL with a token in its path and a signature in its
query. The real gunicorn and ``flask worker`` processes run every download; then the
processes' logs (at DEBUG), the admin API's answers, the CLI's ``requests show`` and
``requests list``, and every value of every table in the database are searched for
both secrets.
"""

from __future__ import annotations

import pytest
import requests as http
from sqlalchemy import select

from app import create_app
from storage.db import Database
from storage.models import Job, ProcessorRequest
from tests.conftest import ADMIN_TOKEN
from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address, wait_until
from tests.support.https_server import ArchiveServer
from tests.support.load import GET_KIND, fire, register_requests, sign_callbacks
from tests.support.scan import database_dump, occurrences
from tests.support.zips import not_a_zip, zip_bytes

pytestmark = pytest.mark.slow

PATH_SECRET = "tok-SECRET123"
QUERY_SECRET = "SIG-SECRET456"
SECRETS = (PATH_SECRET, QUERY_SECRET)
QUERY = f"?X-Amz-Signature={QUERY_SECRET}&X-Amz-Expires=300"
ARCHIVE = zip_bytes({"messages.csv": b"id,body\n1,hello\n"})


def script_archive_host(server: ArchiveServer) -> dict[str, str]:
    """``{request id: archive URL}``: one URL per way a download ends, each carrying both secrets."""

    def route(name: str, body: bytes = b"", *, host: str = "127.0.0.1", **knobs) -> str:
        server.route(f"/{PATH_SECRET}/{name}.zip", body, **knobs)
        return server.url(f"/{PATH_SECRET}/{name}.zip", host=host) + QUERY

    return {
        "gone": route("gone", statuses=[404]),
        "busy": route("busy", statuses=[503]),
        "moved": route("moved", statuses=[302], location=f"https://evil.example.com/{PATH_SECRET}/x.zip{QUERY}"),
        "junk": route("junk", not_a_zip(4096)),
        "stored": route("stored", ARCHIVE),
        "loopback": route("loopback", ARCHIVE, host="localhost"),
        "elsewhere": f"https://files.elsewhere.test/{PATH_SECRET}/x.zip{QUERY}",
    }


def expected_outcomes(port: int) -> dict[str, tuple[str, str]]:
    """``{request id: (state, reason)}``: the host and the failure class, nothing of the path or query."""
    here = f"https://127.0.0.1:{port}"
    return {
        "gone": ("failed", f"download failed: http_404 at {here}"),
        "busy": ("archiving", f"download failed: http_503 at {here}"),  # retried later: job.last_error
        "moved": ("failed", "download failed: redirect_refused at https://evil.example.com (host_not_allowed)"),
        "junk": ("failed", "not a zip"),
        "stored": ("completed", "archive stored"),
        "loopback": ("failed", f"download failed: address_not_allowed at https://localhost:{port} (loopback)"),
        "elsewhere": ("failed", "download failed: host_not_allowed at https://files.elsewhere.test"),
    }


def outcomes(database_url: str) -> dict[str, tuple[str, str]]:
    """Each request's state and reason; for a job waiting to retry, the job's last error."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            retrying = dict(
                session.execute(
                    select(Job.request_id, Job.last_error).where(
                        Job.kind == "archive", Job.state == "queued", Job.last_error.is_not(None)
                    )
                ).all()
            )
            return {
                r.id: (r.state, retrying.get(r.id) or r.state_reason) for r in session.scalars(select(ProcessorRequest))
            }
    finally:
        database.dispose()


def admin_answers(base_url: str, request_ids: list[str]) -> list[str]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    paths = ["/api/requests?limit=100", "/api/requests?state=failed"] + [f"/api/requests/{rid}" for rid in request_ids]
    answers = [http.get(base_url + path, headers=headers, timeout=10) for path in paths]
    assert all(answer.status_code == 200 for answer in answers), [a.status_code for a in answers]
    return [answer.text for answer in answers]


def cli_outputs(env: dict[str, str], request_ids: list[str]) -> list[str]:
    app = create_app(env)
    try:
        runner = app.test_cli_runner()
        results = [runner.invoke(args=["requests", "list"])]
        results += [runner.invoke(args=["requests", "show", rid]) for rid in request_ids]
    finally:
        app.extensions["services"].close()
    assert all(result.exit_code == 0 for result in results), [result.output for result in results]
    return [result.output for result in results]


def test_failed_and_stored_downloads_keep_no_trace_of_the_archive_url(
    launcher, app_env, signer, https_server, backend, report
):
    """Invariant: an archive URL's path and query appear nowhere but sealed in the job's payload: not in
    a log line, an admin answer, a CLI output or any database value; reasons name the host and the
    failure class."""
    loopback = f"127.0.0.1:{https_server.port}"
    env = {
        **app_env,
        "ARCHIVE_ALLOWED_HOSTS": f"{loopback},localhost:{https_server.port}",
        "ARCHIVE_PRIVATE_HOSTS": loopback,
        "REQUESTS_CA_BUNDLE": https_server.ca_bundle,
        "LOG_LEVEL": "DEBUG",
        "WORKER_POLL_SECONDS": "0.2",
    }
    urls = script_archive_host(https_server)
    kinds = dict.fromkeys(urls, GET_KIND)
    register_requests(
        env["DATABASE_URL"], secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    web = launcher.start_web(env, workers=1)
    worker = launcher.start_worker(env)
    sent = fire(address(web), sign_callbacks(signer, kinds, data=urls), concurrency=4)
    expected = expected_outcomes(https_server.port)
    try:
        wait_until(lambda: outcomes(env["DATABASE_URL"]) == expected, timeout=60, interval=0.3, what="the outcomes")
    except AssertionError:
        raise AssertionError(f"outcomes: {outcomes(env['DATABASE_URL'])}\n{worker.log()[-3000:]}") from None
    failed = sum(1 for state, _ in expected.values() if state == "failed")
    wait_until(lambda: worker.log().count("job.failed") >= failed, timeout=10, what="the worker's last log lines")
    ids = sorted(urls)
    logs = web.log() + worker.log()
    answers, outputs, dump = (
        admin_answers(web.base_url or "", ids),
        cli_outputs(env, ids),
        database_dump(env["DATABASE_URL"]),
    )
    found = {
        where: occurrences(text, SECRETS)
        for where, text in (
            ("logs", logs),
            ("api", "\n".join(answers)),
            ("cli", "\n".join(outputs)),
            ("database", dump.text),
        )
    }
    audit = audit_callbacks(env["DATABASE_URL"], sent)
    audit.archives = sum(1 for state, _ in outcomes(env["DATABASE_URL"]).values() if state == "completed")
    counts = report(
        **audit.counts(),
        backend=backend.database_url.split(":")[0],
        downloads=len(urls),
        log_lines=logs.count("\n"),
        api_answers=len(answers),
        cli_outputs=len(outputs),
        db_tables=dump.tables,
        db_rows=dump.rows,
        db_values=dump.cells,
        secrets_found=sum(n for where in found.values() for n in where.values()),
    )
    assert not audit.problems and audit.accepted == len(urls), counts
    assert all(n == 0 for where in found.values() for n in where.values()), f"{counts}: {found}"
    assert "job.retrying" in logs and "job.failed" in logs and "archive.stored" in logs, counts
    assert f"https://127.0.0.1:{https_server.port}" in "\n".join(answers), "reasons name the host"
    assert not [path for path, _ in https_server.requests if "loopback" in path], "refused before connecting"
