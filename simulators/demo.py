"""``make demo``: the service end to end against both simulators, without any account.

Starts, each in its own process group and all on 127.0.0.1: the MessageBird simulator
(HTTPS, a fresh trustme CA), the VoodooSMS simulator, the web service (gunicorn) and
its worker, on the embedded defaults in a temporary instance folder (its own SQLite
database and archive folder: ``instance/`` is not touched). Then, as a named operator
(a token made with ``flask tokens create``), it opens a case received today, sends one
request of each MessageBird kind and one VoodooSMS forget as part of it, waits for them
to finish, closes the case, prints the final records as a table and the case (its
deadline explained, the processors' target, its history), and stops every process it
started, whatever happened. The folder (database, archives, logs) is kept for a look.

    python -m simulators.demo [--workdir DIR] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TERMINAL_STATES = ("completed", "failed")
#: Each request is sent as part of the demo's case: ``POST /api/cases/<id>/requests`` or ``.../forget``.
DEMO_REQUESTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "requests",
        {
            "kind": "KIND_PERSONAL_GET",
            "field": "email",
            "value": "jane.doe@example.org",
            "reason": "Art. 15 access request",
            "subjectRef": "DEMO-1",
        },
    ),
    (
        "requests",
        {
            "kind": "KIND_PERSONAL_DELETE",
            "field": "phone_number",
            "value": "+31612345678",
            "reason": "Art. 17 erasure request",
            "subjectRef": "DEMO-2",
        },
    ),
    ("requests", {"kind": "KIND_USER_GET", "reason": "account export", "subjectRef": "DEMO-3"}),
    ("requests", {"kind": "KIND_USER_DELETE", "reason": "account closure", "subjectRef": "DEMO-4"}),
    ("forget", {"number": "447700900123", "blacklist": False, "subjectRef": "DEMO-5"}),
)
DEMO_OPERATOR = "demo-operator"


class DemoError(Exception):
    """A step of the demo did not work; the message says which, and where its log is."""


class Processes:
    """The processes the demo started, each the leader of its own process group."""

    def __init__(self, workdir: Path, environ: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.environ = dict(environ)
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, command: list[str], env: Mapping[str, str] | None = None, stdout: int | None = None
    ) -> subprocess.Popen[bytes]:
        log = self.log_path(name).open("wb")
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=PROJECT_ROOT,
            env={**self.environ, **(env or {})},
            stdout=stdout if stdout is not None else log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.started.append((name, process))
        return process

    def log_path(self, name: str) -> Path:
        """Where the process started as ``name`` writes its output."""
        return self.workdir / f"{name}.log"

    def stop_all(self) -> None:
        """SIGTERM every process group, then SIGKILL what is still there after a few seconds."""
        for _name, process in reversed(self.started):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, process in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


#: Seconds a simulator or the web service may take to come up: generous, for a machine busy with other work.
START_TIMEOUT = 60


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a process's log, indented, or a note that it wrote nothing."""
    try:
        text = path.read_text(errors="replace").rstrip()
    except OSError:
        text = ""
    if not text:
        return "  (the log is empty)"
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def start_failure(what: str, process: subprocess.Popen[bytes], log: Path, awaited: str) -> DemoError:
    """Why ``process`` is not serving: its exit status, or what it did not do in time, with its log's tail."""
    status = process.poll()
    how = f"exited with status {status}" if status is not None else f"did not {awaited}"
    return DemoError(f"{what} {how}; the end of {log.name}:\n{log_tail(log)}")


def read_ready_line(
    process: subprocess.Popen[bytes], name: str, log: Path, timeout: float = START_TIMEOUT, exit_wait: float = 5
) -> dict[str, Any]:
    """The JSON line a simulator prints once it listens."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else b""
    if not line:
        awaited = f"start within {timeout:g} s"
        if ready:  # its output ended: it is exiting, and its status follows its output's end by a moment
            _wait_quietly(process, exit_wait)
            awaited = "print its ready line before its output ended"
        raise start_failure(f"the {name} simulator", process, log, awaited)
    return json.loads(line)


def _wait_quietly(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise start_failure("the web service", process, log, f"become healthy within {timeout:g} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command_options(**values: object) -> list[str]:
    """``--name=value`` for each value: one argument each, so a value that starts with "-" (a random key may)
    stays the option's value instead of being read as another option."""
    return [f"--{name.replace('_', '-')}={value}" for name, value in values.items()]


def service_env(
    workdir: Path, messagebird: Mapping[str, Any], voodoosms: Mapping[str, Any], keys: Mapping[str, str], port: int
) -> dict[str, str]:
    """The service's settings: embedded defaults in ``workdir``, both providers on their simulators."""
    return {
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "WEB_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ADMIN_TOKEN": keys["admin_token"],
        "MESSAGEBIRD_SIGNING_KEY": keys["signing_key"],
        "MESSAGEBIRD_ACCESS_KEY": keys["access_key"],
        "MESSAGEBIRD_API_URL": messagebird["url"],
        "VOODOOSMS_API_KEY": keys["api_key"],
        "VOODOOSMS_API_URL": voodoosms["url"],
        "DATABASE_URL": f"sqlite:///{workdir / 'receiver.db'}",
        "ARCHIVE_STORE_URL": f"file://{workdir / 'archives'}",
        "ARCHIVE_ALLOWED_HOSTS": messagebird["url"].removeprefix("https://"),
        "ARCHIVE_PRIVATE_HOSTS": messagebird["url"].removeprefix("https://"),  # the simulator runs on loopback
        "REQUESTS_CA_BUNDLE": messagebird["ca_bundle"],
        "NO_PROXY": "127.0.0.1,localhost",
        "LOG_FORMAT": "console",
        "WORKER_POLL_SECONDS": "0.2",
        "RECONCILE_INTERVAL_SECONDS": "5",
        "CALLBACK_GRACE_SECONDS": "10",
        "VOODOOSMS_POLL_INTERVAL_SECONDS": "1",
        "VOODOOSMS_POLL_MAX_INTERVAL_SECONDS": "2",
    }


@contextmanager
def running_stack(workdir: Path) -> Iterator[tuple[str, str]]:
    """Both simulators, the migrated database, the web service and the worker; yields (base URL, operator token)."""
    environ = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    processes = Processes(workdir, environ)
    keys = {
        "admin_token": secrets.token_urlsafe(24),
        "signing_key": secrets.token_urlsafe(32),
        "access_key": "test_" + secrets.token_hex(12),
        "api_key": secrets.token_hex(16),
    }
    try:
        messagebird = read_ready_line(
            processes.start(
                "messagebird",
                [
                    "-m",
                    "simulators.messagebird",
                    *command_options(
                        port=0,
                        ca_file=workdir / "messagebird-ca.pem",
                        access_key=keys["access_key"],
                        signing_key=keys["signing_key"],
                        callback_delay=1,
                    ),
                ],
                stdout=subprocess.PIPE,
            ),
            "messagebird",
            processes.log_path("messagebird"),
        )
        voodoosms = read_ready_line(
            processes.start(
                "voodoosms",
                ["-m", "simulators.voodoosms", *command_options(port=0, api_key=keys["api_key"], removal_delay=3)],
                stdout=subprocess.PIPE,
            ),
            "voodoosms",
            processes.log_path("voodoosms"),
        )
        env = service_env(workdir, messagebird, voodoosms, keys, free_port())
        migrate = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=PROJECT_ROOT,
            env={**environ, **env},
            capture_output=True,
            timeout=60,
        )
        if migrate.returncode != 0:
            raise DemoError(f"the migration failed:\n{migrate.stderr.decode(errors='replace')[-2000:]}")
        operator_token = make_token(environ, env, DEMO_OPERATOR, "operator")
        web = processes.start("web", ["-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env)
        processes.start("worker", ["-m", "flask", "--app", "wsgi", "worker"], env)
        wait_healthy(env["PUBLIC_URL"], web, processes.log_path("web"))
        yield env["PUBLIC_URL"], operator_token
    finally:
        processes.stop_all()


def make_token(environ: Mapping[str, str], env: Mapping[str, str], name: str, role: str) -> str:
    """``flask tokens create``: the token is the last line it prints."""
    made = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "tokens", "create", name, "--role", role],
        cwd=PROJECT_ROOT,
        env={**environ, **env},
        capture_output=True,
        timeout=60,
    )
    if made.returncode != 0:
        raise DemoError(f"making the operator's token failed:\n{made.stderr.decode(errors='replace')[-2000:]}")
    return made.stdout.decode().strip().splitlines()[-1]


def api(
    method: str,
    base_url: str,
    path: str,
    headers: Mapping[str, str],
    expected: int,
    document: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    response = requests.request(method, base_url + path, json=document, headers=headers, timeout=30)
    if response.status_code != expected:
        raise DemoError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
    return response.json()


def open_case(base_url: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """A UK access request received today: its deadline comes back explained."""
    document = {
        "subjectRef": "DEMO-CASE",
        "right": "access",
        "jurisdiction": "UK",
        "receivedOn": dt.datetime.now(dt.UTC).date().isoformat(),
        "notes": "make demo",
    }
    return api("POST", base_url, "/api/cases", headers, 201, document)


def close_case(base_url: str, headers: Mapping[str, str], case_id: str) -> dict[str, Any]:
    document = {"respondedOn": dt.datetime.now(dt.UTC).date().isoformat(), "deliveredBy": "secure email"}
    return api("POST", base_url, f"/api/cases/{case_id}/close", headers, 200, document)


def send_all(base_url: str, headers: Mapping[str, str], case_id: str) -> list[str]:
    """Send every demo request as part of the case; their ids."""
    ids = []
    for kind, document in DEMO_REQUESTS:
        path = f"/api/cases/{case_id}/{kind}"
        response = requests.post(base_url + path, json=document, headers=headers, timeout=30)
        if response.status_code != 201:
            raise DemoError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
        ids.append(response.json()["id"])
    return ids


def wait_for_all(base_url: str, headers: Mapping[str, str], ids: list[str], timeout: float) -> list[dict[str, Any]]:
    """The records of ``ids`` once every one is completed or failed (or as they are at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [requests.get(f"{base_url}/api/requests/{i}", headers=headers, timeout=10).json() for i in ids]
        if all(r["state"] in TERMINAL_STATES for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def seconds_between(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "-"
    parse = dt.datetime.fromisoformat
    return f"{(parse(end) - parse(start)).total_seconds():.1f}"


def render(found: list[dict[str, Any]]) -> str:
    """The records as a table, then each stored archive in full."""
    header = ("PROVIDER", "KIND", "STATE", "CALLBACK s", "DONE s", "BYTES", "SHA-256", "SUBJECT")
    rows = [header]
    for r in found:
        archive = r.get("archive") or {}
        rows.append(
            (
                r["provider"],
                r["kind"],
                r["state"],
                seconds_between(r["createdAt"], r["callbackReceivedAt"]),
                seconds_between(r["createdAt"], r["completedAt"] or r["failedAt"]),
                str(archive.get("bytes") or "-"),
                (archive.get("sha256") or "-")[:16],
                r.get("subjectRef") or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    for r in found:
        lines.append(f"{r['provider']} {r['kind']} {r['id']}: {r['state']} ({r.get('stateReason') or ''})")
        if r.get("archive"):
            lines.append(f"    archive {r['archive']['uri']}\n    sha256  {r['archive']['sha256']}")
    return "\n".join(lines)


def render_case(ready: dict[str, Any], closed: dict[str, Any]) -> str:
    """The case: its deadline and why, the processors' target, the state before closing, the history."""
    deadline = ready["deadline"]
    lines = [
        f"case {ready['id']} ({ready['jurisdiction']}, right of {ready['right']}), received {ready['receivedOn']}",
        f"    due      {ready['dueOn']}: {deadline['explanation']}",
        f"    target   {ready['targetOn']} for every processor request "
        f"({sum(not r['late'] for r in ready['requests'])} of {len(ready['requests'])} in time)",
        f"    state    {ready['state']} once every request ended; then {closed['state']}, answered "
        f"{closed['respondedOn']} by {closed['deliveredBy']} "
        f"({'in time' if closed['answeredInTime'] else 'late'})",
        "    history",
    ]
    lines += [
        f"      {e['at'][:19]}  {e['actor']:<14} {e['kind']:<14} {e['changed'] or ''} "
        f"{e['from'] or ''}{' → ' if e['from'] else ''}{e['requestId'] or e['to'] or ''}".rstrip()
        for e in closed["history"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="instance folder (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=40, help="seconds to wait for the requests to finish")
    arguments = parser.parse_args(argv)
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="gdpr-demo-"))
    (workdir / "archives").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"demo instance folder: {workdir}", flush=True)
    try:
        with running_stack(workdir) as (base_url, operator_token):
            headers = {"Authorization": f"Bearer {operator_token}"}
            case = open_case(base_url, headers)
            print(
                f"service on {base_url}; case {case['id']} opened by {DEMO_OPERATOR}, due {case['dueOn']}; "
                "sending 4 MessageBird requests and 1 VoodooSMS forget for it",
                flush=True,
            )
            found = wait_for_all(base_url, headers, send_all(base_url, headers, case["id"]), arguments.timeout)
            ready = api("GET", base_url, f"/api/cases/{case['id']}", headers, 200)
            closed = close_case(base_url, headers, case["id"])
    except DemoError as error:
        print(f"demo failed: {error} (logs in {workdir})", file=sys.stderr)
        return 1
    print(render(found))
    print()
    print(render_case(ready, closed))
    print(f"\nfinished in {time.monotonic() - started:.1f} s; every process stopped; logs and data in {workdir}")
    done = all(r["state"] == "completed" for r in found) and (ready["state"], closed["state"]) == ("ready", "closed")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
