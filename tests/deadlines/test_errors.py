"""DeadlineError: a fixed vocabulary of reasons, each reachable, conflicts told apart from bad input."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import date

import pytest

from deadlines import (
    CONFLICTS,
    REASONS,
    Calendar,
    DeadlineError,
    Extension,
    Pause,
    check_extension_allowed,
    compute_deadline,
    pause_clock,
    resume_clock,
)

ENGLAND = Calendar.for_jurisdiction("UK")
EU = Calendar.for_jurisdiction("EU")
RECEIVED = date(2024, 11, 25)  # due 27 December 2024 in England


def england(**inputs: object) -> object:
    return compute_deadline(received_on=RECEIVED, calendar=ENGLAND, **inputs)  # type: ignore[arg-type]


def extend(notice: Extension, *, today: date, **inputs: object) -> None:
    current = compute_deadline(received_on=RECEIVED, calendar=ENGLAND, **inputs)  # type: ignore[arg-type]
    check_extension_allowed(current, notice, today=today)


#: One way to provoke each reason; the test below insists the table covers all of them.
PROVOKE: dict[str, Callable[[], object]] = {
    "unknown_jurisdiction": lambda: Calendar.for_jurisdiction("CH"),
    "invalid_setting": lambda: Calendar.for_jurisdiction("UK", uk_subdivision="Scotland"),
    "date_out_of_range": lambda: compute_deadline(received_on=date(2100, 12, 20), calendar=ENGLAND),
    "clock_start_before_receipt": lambda: england(clock_starts_on=date(2024, 11, 24)),
    "clock_start_uk_only": lambda: compute_deadline(received_on=RECEIVED, calendar=EU, clock_starts_on=RECEIVED),
    "pause_before_clock_start": lambda: england(
        clock_starts_on=date(2024, 11, 27), pauses=[Pause(date(2024, 11, 26), date(2024, 11, 28))]
    ),
    "resume_before_pause": lambda: resume_clock([Pause(date(2024, 12, 2))], on=date(2024, 12, 1)),
    "overlapping_pauses": lambda: england(
        pauses=[Pause(date(2024, 12, 2), date(2024, 12, 6)), Pause(date(2024, 12, 5), date(2024, 12, 9))]
    ),
    "open_pause_needs_today": lambda: england(pauses=[Pause(date(2024, 12, 2))]),
    "pause_after_today": lambda: england(pauses=[Pause(date(2024, 12, 2))], today=date(2024, 12, 1)),
    "pause_after_deadline": lambda: england(pauses=[Pause(date(2024, 12, 28), date(2024, 12, 30))]),
    "already_paused": lambda: pause_clock([Pause(date(2024, 12, 2))], on=date(2024, 12, 3), reason="identity"),
    "not_paused": lambda: resume_clock([], on=date(2024, 12, 3)),
    "extension_needs_reason": lambda: england(extension=Extension(date(2024, 12, 2), "")),
    "informed_before_receipt": lambda: england(extension=Extension(date(2024, 11, 1), "complex")),
    "informed_after_first_deadline": lambda: england(extension=Extension(date(2024, 12, 30), "complex")),
    "first_deadline_passed": lambda: extend(Extension(date(2024, 12, 2), "complex"), today=date(2024, 12, 30)),
    "already_extended": lambda: extend(
        Extension(date(2024, 12, 3), "complex"),
        today=date(2024, 12, 3),
        extension=Extension(date(2024, 12, 2), "complex"),
    ),
}


def test_the_table_covers_every_reason() -> None:
    assert set(PROVOKE) == set(REASONS)


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_is_reachable(reason: str) -> None:
    with pytest.raises(DeadlineError) as refused:
        PROVOKE[reason]()
    assert refused.value.reason == reason


def test_conflicts_are_reasons() -> None:
    assert set(REASONS) >= CONFLICTS


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_the_message_is_the_fixed_one(reason: str) -> None:
    error = DeadlineError(reason)
    assert str(error) == REASONS[reason] == error.message
    assert (error.reason, error.is_conflict) == (reason, reason in CONFLICTS)


def test_an_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown deadline error reason"):
        DeadlineError("because")


def test_it_survives_pickling() -> None:
    restored = pickle.loads(pickle.dumps(DeadlineError("already_extended")))
    assert (type(restored), restored.reason, repr(restored)) == (
        DeadlineError,
        "already_extended",
        "DeadlineError('already_extended')",
    )


def test_no_input_reaches_the_message() -> None:
    with pytest.raises(DeadlineError) as refused:
        england(extension=Extension(date(2024, 12, 30), "subject Jane Doe, ticket 4711"))
    shown = " ".join([str(refused.value), repr(refused.value), repr(refused.value.args)])
    assert "Jane" not in shown and "2024-12-30" not in shown
