"""The Prometheus alert rules shipped in deploy/prometheus: they pass their promtool unit tests, and every metric
they name is one the service exports (a misspelt name would make an alert that can never fire)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client import generate_latest

from receiver.observability.metrics import registry_for
from storage.db import Database
from tests.support.databases import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def test_the_alert_rules_pass_their_promtool_unit_tests():
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool not installed (Debian's prometheus package: apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "test", "rules", "deploy/prometheus/tests.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_metric_the_rules_name_is_exported(sqlite_url):
    named = set(re.findall(r"\breceiver_[a-z0-9_]+", RULES.read_text()))
    database = Database(sqlite_url)
    try:
        exported = set(re.findall(r"^# TYPE (\S+)", generate_latest(registry_for(database)).decode(), re.MULTILINE))
    finally:
        database.dispose()
    counters = {f"{name}_total" for name in exported}  # prometheus-client names a counter's family without _total
    assert named and named <= exported | counters, named - exported - counters
