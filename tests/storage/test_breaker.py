"""The breaker: once a backend did not answer, one caller at a time tries it and the others fail at once."""

from __future__ import annotations

import threading

import pytest

from storage.breaker import Breaker
from storage.errors import StorageError


class NoAnswer(Exception):
    pass


class Answered(Exception):
    pass


def did_not_answer(error: BaseException) -> bool:
    return isinstance(error, NoAnswer)


def fail(breaker: Breaker, error: Exception) -> None:
    with pytest.raises(type(error)), breaker.call(did_not_answer):
        raise error


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_calls_go_through_while_the_backend_answers_even_with_errors():
    breaker = Breaker("thing")
    fail(breaker, Answered())
    with breaker.call(did_not_answer):
        pass
    assert not breaker.open


def test_while_one_caller_probes_an_unanswering_backend_the_others_fail_at_once():
    breaker, probing, done = Breaker("thing", probe_interval_seconds=0), threading.Event(), threading.Event()
    fail(breaker, NoAnswer())

    def probe() -> None:
        with breaker.call(did_not_answer):
            probing.set()
            done.wait(5)

    prober = threading.Thread(target=probe)
    prober.start()
    assert probing.wait(5)
    with pytest.raises(StorageError) as error, breaker.call(did_not_answer):
        pytest.fail("a second caller ran while the first probed")
    done.set()
    prober.join()
    assert error.value.reason == "unavailable" and "thing" in error.value.message
    assert not breaker.open, "the probe succeeded: closed again"


def test_a_probe_that_fails_leaves_it_open_for_the_next_caller_to_probe():
    breaker = Breaker("thing", probe_interval_seconds=0)
    fail(breaker, NoAnswer())
    fail(breaker, NoAnswer())
    assert breaker.open
    with breaker.call(did_not_answer):
        pass
    assert not breaker.open


def test_no_caller_probes_until_the_interval_has_passed_since_the_backend_last_failed_to_answer():
    """Requests that queued behind the calls in flight at a freeze fail at once instead of each waiting again."""
    clock = Clock()
    breaker = Breaker("thing", probe_interval_seconds=1.0, clock=clock)
    fail(breaker, NoAnswer())
    clock.now += 0.9
    with pytest.raises(StorageError), breaker.call(did_not_answer):
        pytest.fail("probed within the interval")
    clock.now += 0.1
    fail(breaker, NoAnswer())  # the probe, which fails: the interval starts again
    clock.now += 0.5
    with pytest.raises(StorageError), breaker.call(did_not_answer):
        pytest.fail("probed within the interval after a failed probe")
    clock.now += 0.5
    with breaker.call(did_not_answer):
        pass
    assert not breaker.open
