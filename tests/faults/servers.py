"""Servers a fault test may stop, freeze and start again: its own PostgreSQL cluster, Redis, SeaweedFS.

The shared PostgreSQL and Redis on this machine serve other test runs: a fault test
never stops nor freezes them. ``PrivatePostgres`` is a throwaway cluster (``initdb`` into a
temporary directory, a free port, its socket in that directory), run as the
``postgres`` user when the tests run as root, since PostgreSQL refuses to run as root.
``PrivateRedis`` is a throwaway ``redis-server`` on a free loopback port, keeping nothing
on disk. Both ``freeze()`` (SIGSTOP, as a stalled disk or a hung host behaves: connections
stay open, the kernel still accepts and acknowledges, nothing answers) and ``thaw()``.
``RestartableSeaweedFS`` is ``weed mini`` (as in ``tests/support/s3server.py``) that keeps
its ports and data directory across a stop and a start, so clients configured with its
URL reach it again.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.ports import free_port, free_ports
from tests.support.s3server import (
    _SEAWEEDFS_SERVICES,
    S3Endpoint,
    _identities,
    _stop,
    _weed_arguments,
    weed_binary,
)


def postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, or None when PostgreSQL's server binaries are absent."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own: ``start()``, ``stop()`` (immediate: a crash), ``destroy()``."""

    def __init__(self, bindir: Path) -> None:
        self._bindir = bindir
        self._as_postgres = os.geteuid() == 0
        self.directory = Path(tempfile.mkdtemp(prefix="fault-pg-"))
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``: every backend killed at once, recovery at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def restart_as_standby(self) -> None:
        """Stop cleanly and start again in standby mode (``standby.signal``, no primary): in recovery for good,
        answering reads and refusing every write, as a replica or a demoted primary does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        signal_file = self.data / "standby.signal"
        signal_file.touch()
        owner = self.data.stat()
        os.chown(signal_file, owner.st_uid, owner.st_gid)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def freeze(self) -> None:
        """SIGSTOP the postmaster first (it forks no more), then every process it started."""
        postmaster = self.postmaster_pid()
        os.kill(postmaster, signal.SIGSTOP)
        for pid in _children(postmaster):
            _signal(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT every backend, then the postmaster."""
        postmaster = self.postmaster_pid()
        for pid in _children(postmaster):
            _signal(pid, signal.SIGCONT)
        os.kill(postmaster, signal.SIGCONT)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def destroy(self) -> None:
        if self.running():
            self.thaw()  # a frozen cluster would not hear pg_ctl
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self._bindir / program), *arguments]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60, cwd=self.directory)


class PrivateRedis:
    """A ``redis-server`` of our own on a free loopback port, nothing kept on disk: ``freeze()``, ``thaw()``."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self._wait_until_answering()

    def freeze(self) -> None:
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._process.send_signal(signal.SIGCONT)

    def destroy(self) -> None:
        self.thaw()
        self._process.kill()
        self._process.wait(timeout=10)

    def _wait_until_answering(self, timeout: float = 10) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
            finally:
                client.close()
        raise RuntimeError(f"redis-server not answering after {timeout} s")


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (for a postmaster: its backends and background workers)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return children


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # a backend that ended meanwhile
        os.kill(pid, sig)


class RestartableSeaweedFS:
    """``weed mini`` on fixed loopback ports and a fixed data directory: ``start()``, ``stop()``, again."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._data = workdir / "data"
        self._data.mkdir(parents=True, exist_ok=True)
        self._identities = workdir / "s3.json"
        self._identities.write_text(json.dumps(_identities()))
        self._ports = dict(zip(_SEAWEEDFS_SERVICES, free_ports(len(_SEAWEEDFS_SERVICES), offset=10000), strict=True))
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint = S3Endpoint(url=f"http://127.0.0.1:{self._ports['s3']}")

    def start(self, *, timeout: float = 60) -> None:
        with (self._workdir / "weed.log").open("ab") as log:
            self._process = subprocess.Popen(
                [weed_binary(), "mini", *_weed_arguments(self._data, self._identities, self._ports, self._workdir)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self._wait_until_writable(timeout)

    def stop(self) -> None:
        """SIGTERM, as an operator or the platform stops it (SIGKILL after 15 s)."""
        if self._process is not None:
            _stop(self._process)
            self._process = None

    def kill(self) -> None:
        """SIGKILL: for the end of a test, when nothing of it is needed any more."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def _wait_until_writable(self, timeout: float) -> None:
        client = self.endpoint.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self._process.returncode}")
            try:
                if not client.list_buckets().get("Buckets"):
                    client.create_bucket(Bucket="readiness-probe")
                client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
                return
            except (ClientError, BotoCoreError):
                time.sleep(0.2)
        raise RuntimeError(f"weed mini not writable after {timeout} s")
