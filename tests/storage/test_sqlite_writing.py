"""SQLite's writer's turn: one writer at a time, and a wait for the turn bounded by the timeout."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest

from storage.errors import StorageError
from storage.sqlite_writing import WriterTurn

TIMEOUT = 1.0


@pytest.fixture
def another_process_writing(tmp_path):
    """The database's lock file held the way another process holds it while it writes."""
    database = tmp_path / "receiver.db"
    fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield str(database)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _wait_for_turn(turn: WriterTurn, outcomes: list[tuple[str, float]], began: float) -> None:
    try:
        with turn.held():
            outcomes.append(("turn", time.monotonic() - began))
    except StorageError as error:
        outcomes.append((error.reason, time.monotonic() - began))


def test_a_turn_that_never_comes_is_unavailable_after_the_timeout(another_process_writing):
    outcomes: list[tuple[str, float]] = []
    _wait_for_turn(WriterTurn(another_process_writing, TIMEOUT), outcomes, time.monotonic())
    [(reason, seconds)] = outcomes
    assert reason == "unavailable"
    assert TIMEOUT <= seconds < TIMEOUT + 0.5


def test_queueing_behind_another_thread_counts_against_the_same_timeout(another_process_writing):
    """The second thread waits for the first, then for the file lock: both waits share one bound."""
    turn, first, second = WriterTurn(another_process_writing, TIMEOUT), [], []
    waiting_first = threading.Thread(target=_wait_for_turn, args=(turn, first, time.monotonic()))
    waiting_first.start()
    time.sleep(TIMEOUT / 2)  # the second comes while the first waits, and gets the thread lock before its timeout
    _wait_for_turn(turn, second, time.monotonic())
    waiting_first.join()
    assert [reason for reason, _ in first + second] == ["unavailable", "unavailable"]
    assert second[0][1] < TIMEOUT + 0.25, f"waited {second[0][1]:.2f} s in all"


def test_the_turn_is_taken_at_once_when_nobody_writes(tmp_path):
    turn, outcomes = WriterTurn(str(tmp_path / "receiver.db"), TIMEOUT), []
    _wait_for_turn(turn, outcomes, time.monotonic())
    assert outcomes[0][0] == "turn" and outcomes[0][1] < 0.1
