"""Real service processes for tests: gunicorn web servers and ``flask worker`` processes.

``start_web(env, workers=2)`` runs the Procfile's web command on a free loopback
port and waits until ``/healthz`` answers; ``start_worker(env)`` runs the worker.
Every process started is stopped (SIGKILL if SIGTERM does not do it) at teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.ports import PortTaken, free_port, retrying_start

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    process: subprocess.Popen
    base_url: str | None
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict]:
        """The JSON log events named ``name`` the process wrote, in order (other lines skipped)."""
        found = []
        for line in self.log().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
        return found

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def children(self) -> list[int]:
        """The pids of the process's children (gunicorn's workers, for a web process)."""
        children: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                children += [int(pid) for pid in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
        return children

    def kill_now(self) -> None:
        """Kill the process and its children at once: for a teardown, where how it stops proves nothing (a graceful
        stop takes gunicorn 2-3 s)."""
        if self.process.poll() is not None:
            return
        self.kill(signal.SIGSTOP)  # first, so that gunicorn forks no worker in place of one killed here
        for child in self.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self.kill(signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self, timeout: float = 15) -> int:
        self.kill(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            return self.process.wait(timeout=timeout)


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    return {**inherited, **env, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}


class Launcher:
    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started: list[ServiceProcess] = []

    def start_web(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 2,
        timeout: float = 30,
        app: str = "wsgi:app",
        port: int | None = None,
    ) -> ServiceProcess:
        """gunicorn as the Procfile runs it (``app`` names another WSGI app under the same settings), on ``port``
        (a free one by default, and another if a process takes it first; a given one when callers must know it
        first, e.g. for ``PUBLIC_URL``)."""
        if port is not None:
            return self._start_web_on(port, env, workers=workers, timeout=timeout, app=app)
        return retrying_start(lambda: self._start_web_on(free_port(), env, workers=workers, timeout=timeout, app=app))

    def _start_web_on(
        self, port: int, env: Mapping[str, str], *, workers: int, timeout: float, app: str
    ) -> ServiceProcess:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", str(workers), app]
        service = self._spawn(
            command, {"WEB_HOST": "127.0.0.1", **env, "PORT": str(port)}, f"web-{port}", f"http://127.0.0.1:{port}"
        )
        try:
            wait_healthy(service, timeout)
        except RuntimeError as error:
            if "Connection in use" in service.log():
                service.kill_now()
                raise PortTaken(f"port {port} was taken before gunicorn could listen on it") from error
            raise
        wait_for_workers(service, workers, timeout)
        return service

    def start_worker(self, env: Mapping[str, str], *, app: str = "wsgi") -> ServiceProcess:
        """``flask worker`` as the Procfile runs it (``app`` names another app module under the same settings)."""
        command = [sys.executable, "-m", "flask", "--app", app, "worker"]
        return self._spawn(command, env, f"worker-{len(self._started)}", None)

    def _spawn(self, command: list[str], env: Mapping[str, str], name: str, base_url: str | None) -> ServiceProcess:
        log_path = self._tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=process_env(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        service = ServiceProcess(process, base_url, log_path)
        self._started.append(service)
        return service

    def stop_all(self) -> None:
        """Every process started and not stopped by its test, killed (see ``ServiceProcess.kill_now``)."""
        for service in reversed(self._started):
            service.kill_now()


def wait_for_workers(service: ServiceProcess, workers: int, timeout: float) -> None:
    """Until gunicorn has forked all its workers: the first answers as soon as it is forked (the app is loaded
    before), a moment before the master forks the last one."""
    deadline = time.monotonic() + timeout
    while len(service.children()) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start {workers} workers:\n{service.log()[-3000:]}")
        time.sleep(0.05)


def wait_healthy(service: ServiceProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{service.log()[-3000:]}")
        try:
            if requests.get(f"{service.base_url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become healthy:\n{service.log()[-3000:]}")


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()
