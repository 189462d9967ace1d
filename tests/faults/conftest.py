"""Fixtures of the fault-injection suite: backends, a signer, gunicorn's workers, the counts report.

Every fault test ends by reporting what it counted (sent, 200s, records, archives):
in its assertion messages, as ``record_property`` entries (the JUnit XML), and in a
"fault-injection counts" section at the end of the pytest run.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from storage.db import Database
from tests.conftest import PUBLIC_URL
from tests.faults.servers import PrivatePostgres, postgres_bindir
from tests.support.counts import COUNTS, report_line  # noqa: F401 (report_line: for the modules' teardowns)
from tests.support.databases import Backend, skip_or_fail
from tests.support.load import CallbackSigner
from tests.support.processes import ServiceProcess


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """SQLite and PostgreSQL (the Redis replay cache is covered by the service tests)."""
    return Backend(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test's own, migrated: to stop, freeze, restart as a standby (never the machine's)."""
    bindir = postgres_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl) not found")
    cluster = PrivatePostgres(bindir)
    try:
        cluster.start()
        database = Database(cluster.url)
        database.upgrade()
        database.dispose()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def signer(messagebird_signing_key: str, messagebird_signature_key: str) -> CallbackSigner:
    return CallbackSigner(PUBLIC_URL, messagebird_signing_key, messagebird_signature_key)


@pytest.fixture
def report(request: pytest.FixtureRequest, record_property: Callable[[str, object], None]) -> Callable[..., str]:
    """``report(sent=..., ...)``: record the counts and return them as one line for assertion messages."""

    def report(**counts: object) -> str:
        line = " ".join(f"{name}={value}" for name, value in counts.items())
        for name, value in counts.items():
            record_property(name, value)
        record_property(COUNTS, line)  # travels with the test's report, from an xdist worker too
        print(f"counts: {line}")
        return line

    return report


def address(service: ServiceProcess) -> tuple[str, int]:
    host, port = (service.base_url or "").removeprefix("http://").split(":")
    return host, int(port)


def gunicorn_workers(master: ServiceProcess) -> list[int]:
    """The pids of gunicorn's worker processes: the master's children."""
    return sorted(master.children())


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s")


class Killer:
    """Kills one of gunicorn's workers with SIGKILL each time the load passes another ``1 / (kills + 1)`` of its
    deliveries: paced by the load's progress, so every kill lands under load however fast the machine answers.
    Pass ``killer.answered`` to ``fire(on_answer=...)``."""

    def __init__(self, web: ServiceProcess, *, kills: int, deliveries: int) -> None:
        self.web = web
        self.killed: list[int] = []
        self._thresholds = [deliveries * (k + 1) // (kills + 1) for k in range(kills)]
        self._chooser = random.Random(9)

    def answered(self, count: int) -> None:
        """Kill a worker if ``count`` answers passed the next threshold (and one is up: else at the next answer)."""
        due = len(self.killed) < len(self._thresholds) and count >= self._thresholds[len(self.killed)]
        if due and (workers := gunicorn_workers(self.web)):
            victim = self._chooser.choice(workers)
            os.kill(victim, signal.SIGKILL)
            self.killed.append(victim)
