"""The evidence pack checked as an auditor would, with the openssl command line and Python's standard library:
its manifest time-stamped by a TSA on loopback, its case's chain entries tied to an anchored head."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.receiver.test_audit_anchors import tsa_env


@pytest.fixture
def app_env(app_env, tsa):
    return {**app_env, **tsa_env(tsa)}


def export(app, case_id: str, folder: Path):
    result = app.test_cli_runner().invoke(args=["evidence", "pack", case_id, "-o", str(folder / "pack.zip")])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO((folder / "pack.zip").read_bytes())) as archive:
        archive.extractall(folder)
    return result


def command(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=folder, capture_output=True, text=True, check=False, timeout=60)


def test_the_pack_checks_with_openssl_alone_and_ties_the_cases_entries_to_the_anchor(
    app, client, services, answered_case, register, tmp_path
):
    other = client.post(  # another case: none of its rows may be in this pack
        "/api/cases",
        headers={"Authorization": "Bearer " + "admin-" + "x" * 26},
        json={"subjectRef": "TICKET-8", "right": "access", "jurisdiction": "UK", "receivedOn": "2026-12-01"},
    ).json["id"]
    result = export(app, answered_case["id"], tmp_path)
    assert "time-stamped" in result.output and "NOT" not in result.output
    verified = command(
        tmp_path,
        "openssl",
        "ts",
        "-verify",
        "-data",
        "manifest.json",
        "-in",
        "manifest.json.tsr",
        "-CAfile",
        "tsa-ca.pem",
    )
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr
    (tmp_path / "other.json").write_bytes((tmp_path / "manifest.json").read_bytes().replace(b"{", b"{ ", 1))
    forged = command(
        tmp_path, "openssl", "ts", "-verify", "-data", "other.json", "-in", "manifest.json.tsr", "-CAfile", "tsa-ca.pem"
    )
    assert forged.returncode != 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())["files"]
    digests = command(tmp_path, "openssl", "dgst", "-sha256", "-r", *manifest).stdout.split("\n")
    assert {line.split(" *")[1]: line.split(" ")[0] for line in digests if line} == manifest
    anchor = command(
        tmp_path, "openssl", "ts", "-verify", "-data", "anchor.json", "-in", "anchor.tsr", "-CAfile", "tsa-ca.pem"
    )
    assert anchor.returncode == 0, anchor.stderr
    checked = command(tmp_path, sys.executable, "-I", "check_chain.py")
    assert checked.returncode == 0, checked.stdout
    chain = json.loads((tmp_path / "chain.json").read_text())
    tables = {entry["table"] for entry in chain["entries"]}
    assert {"cases", "case_events", "requests", "transitions", "callbacks"} <= tables
    assert all(entry["matchesRow"] for entry in chain["entries"])
    assert not any(other in entry["encoding"] for entry in chain["entries"])
    assert checked.stdout.count("\nok   ") + checked.stdout.startswith("ok   ") == len(chain["entries"])
    page = (tmp_path / "evidence.html").read_text()
    assert "openssl ts -verify -data manifest.json -in manifest.json.tsr -CAfile tsa-ca.pem" in page
    assert "python3 check_chain.py" in page


def test_a_tampered_entry_fails_the_check(app, answered_case, tmp_path):
    export(app, answered_case["id"], tmp_path)
    chain = json.loads((tmp_path / "chain.json").read_text())
    case_entry = next(entry for entry in chain["entries"] if entry["table"] == "cases")
    case_entry["encoding"] = case_entry["encoding"].replace('"responded_on":"', '"responded_on":"1')
    (tmp_path / "chain.json").write_text(json.dumps(chain))
    checked = command(tmp_path, sys.executable, "-I", "check_chain.py")
    assert checked.returncode == 1 and "FAIL seq" in checked.stdout and ": cases " in checked.stdout


@pytest.mark.timing
def test_a_tsa_that_is_down_ships_the_pack_marked_not_time_stamped_after_a_bounded_wait(
    app, answered_case, tsa, tmp_path
):
    with tsa.frozen():
        started = time.monotonic()
        result = export(app, answered_case["id"], tmp_path)
        waited = time.monotonic() - started
    assert waited < 8  # two waits (the anchor, the manifest) of AUDIT_TSA_TIMEOUT_SECONDS (1 s) each, at most
    assert "NOT time-stamped" in result.output
    assert not (tmp_path / "manifest.json.tsr").exists() and not (tmp_path / "anchor.json").exists()
    assert "did not answer" in (tmp_path / "NOT-TIME-STAMPED.txt").read_text()
    chain = json.loads((tmp_path / "chain.json").read_text())
    assert chain["anchor"] is None and "no time-stamp within the timeout" in chain["unanchored"]
    assert app.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0  # the next run anchors
