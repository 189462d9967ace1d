"""``make demo`` as a newcomer runs it: real processes, under a minute, nothing left running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    workdir = tmp_path / "demo"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "simulators.demo", "--workdir", str(workdir)], cwd=PROJECT_ROOT,
                            env=process_env({}), capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 60
    table = result.stdout.splitlines()
    rows = [line.split() for line in table if line.startswith(("messagebird ", "voodoosms "))][:5]
    assert [(row[1], row[2]) for row in rows] == [
        ("KIND_PERSONAL_GET", "completed"), ("KIND_PERSONAL_DELETE", "completed"), ("KIND_USER_GET", "completed"),
        ("KIND_USER_DELETE", "completed"), ("FORGET", "completed")]
    archives = list((workdir / "archives").rglob("*.zip"))
    assert len(archives) == 1 and f"archive file://{archives[0]}" in result.stdout
    assert processes_mentioning(str(workdir)) == []
    assert not (PROJECT_ROOT / "instance" / "demo").exists()
