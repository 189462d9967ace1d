"""The file system under SQLite full: callbacks refused 503, nothing lost, and ``/readyz`` says why.

The database lives on a tmpfs of its own, mounted for the test (mounting needs root: elsewhere
the test is skipped, or fails under ``REQUIRE_SERVICES=1``), and a filler file takes its last
bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from storage.db import Database
from storage.models import Callback, ProcessorRequest
from tests.conftest import CALLBACK_URL
from tests.support.databases import Backend, skip_or_fail
from tests.support.load import DELETE_KIND, callback_json, register_requests

pytestmark = pytest.mark.slow

CALLBACK_PATH = "/webhooks/messagebird/personal-data"


@pytest.fixture
def small_file_system(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted at the end."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_or_fail("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.fixture
def backend(small_file_system: Path, sqlite_template: Path) -> Backend:
    path = small_file_system / "receiver.db"
    shutil.copyfile(sqlite_template, path)
    return Backend(f"sqlite:///{path}")


def fill(directory: Path) -> Path:
    """Write a file until the file system refuses another byte."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, b"\0" * chunk)
    finally:
        os.close(descriptor)
    return filler


def rows(database_url: str) -> tuple[int, str]:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            state = session.get(ProcessorRequest, "disk-1")
            assert state is not None
            return session.query(Callback).count(), state.state
    finally:
        database.dispose()


def test_a_full_file_system_refuses_callbacks_and_readyz_says_so(
    app_env, small_file_system, messagebird_signer, messagebird_signature_key, report
):
    """Invariant: with the disk full a callback is answered 503 and nothing of it is recorded; ``/readyz``
    answers 503 naming ``no_space`` for the database, having written nothing; once space is freed, both
    recover and the same delivery is accepted."""
    database_url = app_env["DATABASE_URL"]
    register_requests(
        database_url,
        secret_key=app_env["SECRET_KEY"],
        signature_key=messagebird_signature_key,
        kinds={"disk-1": DELETE_KIND},
    )
    app = create_app({**app_env, "DATABASE_MIN_FREE_MB": "1"})
    client = app.test_client()
    body = callback_json("disk-1", DELETE_KIND)
    headers = messagebird_signer(CALLBACK_URL, body)
    try:
        assert client.get("/readyz").status_code == 200
        filler = fill(small_file_system)
        files_before = {p.name: p.stat().st_size for p in small_file_system.iterdir()}
        full_callback = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
        files_after_callback = {p.name: p.stat().st_size for p in small_file_system.iterdir()}
        full = client.get("/readyz")
        files_after_readyz = {p.name: p.stat().st_size for p in small_file_system.iterdir()}
        filler.unlink()
        freed = client.get("/readyz")
        accepted = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
    finally:
        app.extensions["services"].close()
    recorded, state = rows(database_url)
    counts = report(
        callback_while_full=full_callback.status_code,
        readyz_while_full=f"{full.status_code} {full.json['checks']['database']}",
        readyz_freed=freed.status_code,
        resent=accepted.json.get("status"),
        records=recorded,
    )
    assert full_callback.status_code == 503, counts
    assert full.status_code == 503 and full.json["checks"]["database"].startswith("no_space"), counts
    assert files_after_readyz == files_after_callback, "the probe wrote nothing"
    assert set(files_before) <= set(files_after_readyz)
    assert freed.status_code == 200, freed.json
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted", counts
    assert (recorded, state) == (1, "completed"), counts
