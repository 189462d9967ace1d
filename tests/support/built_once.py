"""Something slow to build, built once for the whole test run and shared by every test process.

A module's fixture runs once in each test process that runs one of its tests, and with work
stealing a module's tests can land in two or three processes: the wheel's tests built the
sdist, the wheel and a fresh virtual environment up to three times. ``built_once`` runs the
build in the first process that asks for it, under a lock in the run's own temporary folder
(the one every ``pytest-xdist`` process shares); the others wait for it and use what it left.
Without ``pytest-xdist`` it simply builds into a folder of this run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``build`` filled, built by whichever test process of this run asked first."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name
    with (folder.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder
