"""Every entry point refuses a bad configuration the same way: one line per problem, exit status 2, no traceback.

The Procfile's three commands (release: ``flask db upgrade``; web: ``receiver.web.serve``, which
becomes gunicorn; worker: ``flask worker``) and any other ``flask`` command are run as real processes.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from settings import CONFIG_ERROR_EXIT_STATUS
from tests.support.ports import free_port
from tests.support.processes import PROJECT_ROOT, ServiceProcess, process_env, wait_healthy

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PROCFILE_COMMANDS = dict(line.split(": ", 1) for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line)
ENTRY_POINTS = {**PROCFILE_COMMANDS, "a flask command": "flask --app wsgi requests list"}

#: Two problems at once: a missing secret and a malformed number.
BAD_ENVIRONMENT = {
    "PUBLIC_URL": "https://hooks.example.test",
    "ADMIN_TOKEN": "a" * 20,
    "MESSAGEBIRD_SIGNING_KEY": "signing-key",
    "DATABASE_TIMEOUT_SECONDS": "soon",
}


def command_env(environment: dict[str, str]) -> dict[str, str]:
    """``environment`` over this one, the virtualenv's commands first on the PATH, without the test's own
    secret, database and archive store unless ``environment`` names them."""
    env = process_env(environment)
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    for inherited in {"SECRET_KEY", "DATABASE_URL", "ARCHIVE_STORE_URL"} - set(environment):
        env.pop(inherited, None)
    return env


def run(command: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shlex.split(command), cwd=PROJECT_ROOT, env=command_env(environment), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_a_bad_configuration_is_one_line_per_problem_and_status_2(entry_point):
    result = run(ENTRY_POINTS[entry_point], BAD_ENVIRONMENT)
    assert result.returncode == CONFIG_ERROR_EXIT_STATUS, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "configuration error: SECRET_KEY: required but not set",
        "configuration error: DATABASE_TIMEOUT_SECONDS: must be a number, got 'soon'",
    ]


def test_a_setting_that_fails_only_when_the_services_are_built_stops_gunicorn_before_any_worker():
    environment = {
        **BAD_ENVIRONMENT,
        "SECRET_KEY": "s" * 40,
        "DATABASE_TIMEOUT_SECONDS": "5",
        "ARCHIVE_STORE_URL": "s3://NOT_A_BUCKET/x",
    }
    result = run(PROCFILE_COMMANDS["web"], environment)
    assert result.returncode == CONFIG_ERROR_EXIT_STATUS, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: ARCHIVE_STORE_URL:")


def test_the_web_servers_own_settings_are_checked_with_the_others():
    """``WEB_CONCURRENCY`` and ``FORWARDED_ALLOW_IPS`` among them: gunicorn reads them itself as it loads, and
    stopped with a traceback or a message of its own."""
    environment = {
        **BAD_ENVIRONMENT,
        "SECRET_KEY": "s" * 40,
        "DATABASE_TIMEOUT_SECONDS": "5",
        "PORT": "eighty",
        "WEB_THREADS": "abc",
        "WEB_READ_TIMEOUT": "soon",
        "WEB_HOST": "localhost",
        "WEB_CONCURRENCY": "many",
        "FORWARDED_ALLOW_IPS": "the-load-balancer",
    }
    result = run(PROCFILE_COMMANDS["web"], environment)
    assert result.returncode == CONFIG_ERROR_EXIT_STATUS, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "configuration error: PORT: must be a whole number, got 'eighty'",
        "configuration error: WEB_HOST: must be an IP address such as 0.0.0.0 or 127.0.0.1, got 'localhost'",
        "configuration error: WEB_CONCURRENCY: must be a whole number, got 'many'",
        "configuration error: WEB_THREADS: must be a whole number, got 'abc'",
        "configuration error: WEB_READ_TIMEOUT: must be a number, got 'soon'",
        "configuration error: FORWARDED_ALLOW_IPS: must be comma-separated IP addresses or networks such as "
        "10.0.0.0/8, or *; not 'the-load-balancer'",
    ]


def test_gunicorn_takes_its_settings_from_the_service_and_its_arguments_from_the_web_command(app_env):
    """A blank ``FORWARDED_ALLOW_IPS`` is the setting's default: gunicorn alone would read it as no proxy at all."""
    environment = {
        **app_env,
        "PORT": "8123",
        "WEB_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "3",
        "WEB_THREADS": "5",
        "FORWARDED_ALLOW_IPS": " ",
    }
    result = run(PROCFILE_COMMANDS["web"] + " --print-config", environment)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = dict(map(str.strip, line.split(" = ", 1)) for line in result.stdout.splitlines() if " = " in line)
    shown = {name: printed[name] for name in ("bind", "workers", "threads", "forwarded_allow_ips")}
    assert shown == {
        "bind": "['127.0.0.1:8123']",
        "workers": "3",
        "threads": "5",
        "forwarded_allow_ips": "['127.0.0.1', '::1']",
    }


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port``, from /proc/net/tcp (IPv4, hex little-endian)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.parametrize(("web_host", "expected"), [("127.0.0.1", {"127.0.0.1"}), ("", {"0.0.0.0"})])
def test_the_web_server_listens_on_web_host(launcher, app_env, web_host, expected):
    """Empty: the setting's default, every IPv4 interface (what a platform's router connects to)."""
    web = launcher.start_web({**app_env, "WEB_HOST": web_host})
    assert listening_addresses(int(web.base_url.rsplit(":", 1)[1])) == expected


def test_the_procfiles_web_command_becomes_gunicorn_serves_and_stops_on_sigterm(app_env, tmp_path):
    """The process the platform started is gunicorn's master itself, so its SIGTERM reaches gunicorn."""
    port, log = free_port(), tmp_path / "web.log"
    environment = {**app_env, "PORT": str(port), "WEB_HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            shlex.split(PROCFILE_COMMANDS["web"]),
            cwd=PROJECT_ROOT,
            env=command_env(environment),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    web = ServiceProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_healthy(web, timeout=30)
        assert "gunicorn" in Path(f"/proc/{web.pid}/cmdline").read_text()
    finally:
        exit_status = web.stop()
    assert exit_status == 0, web.log()[-3000:]
