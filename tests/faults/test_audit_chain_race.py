"""The audit chain under real concurrent appenders: processes writing history and sealing at once, one sealer
killed with SIGKILL in the middle of its work; the chain ends linear, complete and verifiable, on every backend."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from storage import audit_chain
from storage.db import Database
from tests.faults.chain_writer import ROWS_PER_ROUND
from tests.support.processes import PROJECT_ROOT, process_env

pytestmark = pytest.mark.slow

ROUNDS = 25  # per writer: 200 chained rows each


def appender(database_url: str, rounds: int, role: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.chain_writer", database_url, str(rounds), role],
        cwd=PROJECT_ROOT,
        env=process_env({}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_concurrent_writers_and_sealers_keep_one_verifiable_chain(database_url, report):
    """Invariant: every row written by any process is sealed exactly once, in one chain without a fork or a hole,
    however the writers' commits and the sealers' turns interleave, and a sealer killed mid-seal leaves no trace."""
    started = time.monotonic()
    doomed = appender(database_url, 0, "seal")
    writers = [appender(database_url, ROUNDS, "both") for _ in range(2)]
    time.sleep(1.5)
    doomed.kill()
    doomed.communicate(timeout=10)
    outputs = [writer.communicate(timeout=60) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], [err[-2000:] for _, err in outputs]
    written = sum(int(out.split("written=")[1].split()[0]) for out, _ in outputs)

    database = Database(database_url)
    try:
        audit_chain.seal(database)
        verdict = audit_chain.verify(database)
    finally:
        database.dispose()
    line = report(
        processes=3,
        written=written,
        entries=verdict.entries,
        pending=verdict.pending,
        broken=verdict.broken.kind if verdict.broken else None,
        sealer_killed=doomed.returncode,
        seconds=round(time.monotonic() - started, 1),
    )
    assert verdict.broken is None, f"{verdict.broken}; {line}"
    assert verdict.entries == written == 2 * ROUNDS * ROWS_PER_ROUND, line
    assert verdict.pending == 0 and doomed.returncode == -9, line
