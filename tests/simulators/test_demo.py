"""``make demo`` as a newcomer runs it: real processes, under a minute, nothing left running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators import messagebird
from simulators.demo import DemoError, Processes, command_options, read_ready_line, wait_healthy
from tests.support.ports import free_port
from tests.support.processes import PROJECT_ROOT, process_env

pytestmark = pytest.mark.slow


def processes_mentioning(text: str) -> list[str]:
    """Processes whose command line or environment names ``text`` (the demo's folder is in both)."""
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            seen = (process / "cmdline").read_bytes() + (process / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in seen:
            found.append(process.name)
    return found


def test_the_demo_completes_every_request_and_stops_everything(tmp_path):
    """The demo's "under a minute" is a wall-clock promise; alone it takes about 15 s, mostly waiting on the
    simulators, so it runs beside the other tests, with room to spare."""
    workdir = tmp_path / "demo"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "simulators.demo", "--workdir", str(workdir)],
        cwd=PROJECT_ROOT,
        env=process_env({}),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 60
    table = result.stdout.splitlines()
    rows = [line.split() for line in table if line.startswith(("messagebird ", "voodoosms "))][:5]
    assert [(row[1], row[2]) for row in rows] == [
        ("KIND_PERSONAL_GET", "completed"),
        ("KIND_PERSONAL_DELETE", "completed"),
        ("KIND_USER_GET", "completed"),
        ("KIND_USER_DELETE", "completed"),
        ("FORGET", "completed"),
    ]
    archives = list((workdir / "archives").rglob("*.zip"))
    assert len(archives) == 1 and f"archive file://{archives[0]}" in result.stdout
    assert processes_mentioning(str(workdir)) == []
    assert not (PROJECT_ROOT / "instance" / "demo").exists()


@pytest.mark.parametrize(
    "key", ["-LB6KQJmeVNyxfAcnN4aIjO7PQiCMj5sT7kvD1LtvlE", "--6KQJmeVNyxfAcnN4aIjO7PQiCMj5sT7kvD1LtvlE", "plain"]
)
def test_a_random_key_that_starts_with_a_dash_reaches_the_simulator_as_its_value(key):
    """``secrets.token_urlsafe`` starts with "-" one time in 64: given as ``--signing-key -LB6...`` the simulator
    refused its command line and the demo stopped."""
    given = command_options(ca_file="ca.pem", signing_key=key, access_key=key, callback_delay=1)
    parsed = messagebird.argument_parser().parse_args(given)
    assert (parsed.signing_key, parsed.access_key, parsed.ca_file, parsed.callback_delay) == (
        key,
        key,
        Path("ca.pem"),
        1.0,
    )


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path, process_env({}))
    yield started
    started.stop_all()


def test_a_simulator_that_exits_before_it_listens_is_reported_with_its_status_and_log(processes):
    exiting = processes.start(
        "messagebird",
        ["-c", "import sys; print('no such option: --frob', file=sys.stderr); sys.exit(2)"],
        stdout=subprocess.PIPE,
    )
    with pytest.raises(DemoError) as raised:
        read_ready_line(exiting, "messagebird", processes.log_path("messagebird"))
    assert str(raised.value) == (
        "the messagebird simulator exited with status 2; the end of messagebird.log:\n  no such option: --frob"
    )


def test_a_simulator_that_prints_nothing_is_given_up_on_after_the_timeout(processes):
    silent = processes.start("voodoosms", ["-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE)
    with pytest.raises(DemoError) as raised:
        read_ready_line(silent, "voodoosms", processes.log_path("voodoosms"), timeout=0.5)
    assert str(raised.value) == (
        "the voodoosms simulator did not start within 0.5 s; the end of voodoosms.log:\n  (the log is empty)"
    )


def test_a_simulator_whose_output_ends_but_that_runs_on_is_reported_for_that(processes):
    closing = processes.start(
        "messagebird", ["-c", "import os, time; os.close(1); time.sleep(30)"], stdout=subprocess.PIPE
    )
    with pytest.raises(DemoError) as raised:
        read_ready_line(closing, "messagebird", processes.log_path("messagebird"), exit_wait=0.2)
    assert str(raised.value) == (
        "the messagebird simulator did not print its ready line before its output ended; "
        "the end of messagebird.log:\n  (the log is empty)"
    )


def test_a_web_service_that_exits_is_reported_without_waiting_out_the_timeout(processes):
    exiting = processes.start(
        "web", ["-c", "import sys; print('Address already in use', file=sys.stderr); sys.exit(1)"]
    )
    started = time.monotonic()
    with pytest.raises(
        DemoError,
        match=r"the web service exited with status 1; the end of web.log:\n"
        r"  Address already in use",
    ):
        wait_healthy(f"http://127.0.0.1:{free_port()}", exiting, processes.log_path("web"))
    assert time.monotonic() - started < 30
