"""The simulators as processes, as ``make demo`` and a newcomer start them: knobs from flags."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests

from simulators.local import read_env
from tests.support.processes import PROJECT_ROOT, process_env

pytestmark = pytest.mark.slow


@pytest.fixture
def start_simulator(tmp_path):
    started: list[subprocess.Popen] = []

    def start(*args: str) -> dict:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=process_env({}),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        started.append(process)
        return json.loads(process.stdout.readline())

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_the_messagebird_simulator_takes_its_knobs_from_flags(start_simulator, tmp_path):
    ready = start_simulator(
        "-m",
        "simulators.messagebird",
        "--port",
        "0",
        "--ca-file",
        str(tmp_path / "ca.pem"),
        "--callback",
        "none",
        "--bad-signature",
        "jwt",
        "--rate-limit",
        "2",
    )
    knobs = requests.get(ready["url"] + "/_simulator/knobs", verify=ready["ca_bundle"], timeout=5).json()
    assert (knobs["callback"], knobs["bad_signature"], knobs["rate_limit"]) == ("none", "jwt", 2)
    answer = requests.get(ready["url"] + "/personaldata/requests", verify=ready["ca_bundle"], timeout=5)
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "1")


def test_the_voodoosms_simulator_takes_its_knobs_from_flags(start_simulator):
    ready = start_simulator(
        "-m", "simulators.voodoosms", "--port", "0", "--api-key", "k", "--outcome", "failed", "--status-methods", "GET"
    )
    assert requests.post(ready["url"] + "/gdpr/status", json={"date": 0}, timeout=5).status_code == 405
    answer = requests.post(
        ready["url"] + "/gdpr/forget", json={"number": 317700900123}, headers={"Authorization": "Bearer k"}, timeout=5
    )
    assert answer.json() == {"error": {"code": 76, "msg": "Cannot use this number"}}


def test_make_simulators_points_make_run_at_both_while_they_run(tmp_path):
    """``python -m simulators.local`` (``make simulators``): the env file ``make run`` adds, gone when they stop."""
    (tmp_path / "dev.env").write_text("# generated\nMESSAGEBIRD_SIGNING_KEY=dev-signing-key\n")
    env_file = tmp_path / "simulators.env"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.local",
            "--instance",
            str(tmp_path),
            "--messagebird-port",
            "0",
            "--voodoosms-port",
            "0",
        ],
        cwd=PROJECT_ROOT,
        env=process_env({}),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert "Ctrl-C stops them" in process.stdout.readline().decode()
        env = read_env(env_file)
        bird = requests.get(
            env["MESSAGEBIRD_API_URL"] + "/personaldata/requests",
            verify=env["REQUESTS_CA_BUNDLE"],
            headers={"Authorization": f"AccessKey {env['MESSAGEBIRD_ACCESS_KEY']}"},
            timeout=5,
        )
        assert bird.status_code == 200
        assert env["ARCHIVE_ALLOWED_HOSTS"] == env["MESSAGEBIRD_API_URL"].removeprefix("https://")
        forget = requests.post(
            env["VOODOOSMS_API_URL"] + "/gdpr/forget",
            json={"number": 447700900123},
            headers={"Authorization": f"Bearer {env['VOODOOSMS_API_KEY']}"},
            timeout=5,
        )
        assert forget.status_code == 200, forget.text
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
    assert not env_file.exists()
