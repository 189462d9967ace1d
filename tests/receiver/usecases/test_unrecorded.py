"""Which listed request an unrecorded send became: kind, keyed hash of the value, reason, time (pure)."""

from __future__ import annotations

import datetime as dt

from receiver.providers.messagebird import Listed
from receiver.usecases.unrecorded import CLOCK_SKEW, Intent, match_listing

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
SETTLE = 30.0


def value_hash(field: str, value: str) -> str:
    return f"hash({field}={value.lower()})"


def intent(
    intent_id: str,
    *,
    kind: str = "KIND_PERSONAL_GET",
    value: str | None = "jane@example.org",
    reason: str = "Art. 15",
    at: float = 0,
) -> Intent:
    hashed = value_hash("email", value) if value else None
    return Intent(intent_id, kind, hashed, reason, T0 + dt.timedelta(seconds=at))


def listed(
    request_id: str,
    *,
    kind: str = "KIND_PERSONAL_GET",
    value: str | None = "jane@example.org",
    reason: str | None = "Art. 15",
    at: float = 1,
) -> Listed:
    return Listed(
        request_id,
        kind,
        "STATE_SENT",
        None,
        T0 + dt.timedelta(seconds=at),
        None,
        signature_key="a2V5",
        field="email" if value else None,
        value=value,
        reason=reason,
    )


def match(intents, listing, known=()):
    found = match_listing(intents, listing, known=set(known), value_hash=value_hash, settle=SETTLE)
    return {intent_id: item.id for intent_id, item in found.items()}


def test_the_request_with_the_same_kind_value_and_reason_created_after_the_intent_is_it():
    assert match(
        [intent("i1")],
        [
            listed("other-kind", kind="KIND_PERSONAL_DELETE"),
            listed("other-value", value="john@example.org"),
            listed("other-reason", reason="Art. 17"),
            listed("mb-1"),
        ],
    ) == {"i1": "mb-1"}


def test_the_value_matches_by_its_keyed_hash_whatever_its_spelling():
    assert match([intent("i1")], [listed("mb-1", value="JANE@example.org")]) == {"i1": "mb-1"}


def test_a_listing_without_reasons_still_matches():
    assert match([intent("i1")], [listed("mb-1", reason=None)]) == {"i1": "mb-1"}


def test_account_wide_kinds_match_without_a_value():
    assert match(
        [intent("i1", kind="KIND_USER_GET", value=None)],
        [listed("mb-p"), listed("mb-u", kind="KIND_USER_GET", value=None)],
    ) == {"i1": "mb-u"}


def test_requests_already_registered_are_never_taken():
    assert match([intent("i1")], [listed("mb-1")], known={"mb-1"}) == {}


def test_only_requests_created_inside_the_window_match():
    too_early = -CLOCK_SKEW.total_seconds() - 1
    too_late = SETTLE + CLOCK_SKEW.total_seconds() + 1
    assert match([intent("i1")], [listed("early", at=too_early), listed("late", at=too_late)]) == {}
    assert match([intent("i1")], [listed("skewed", at=-60)]) == {"i1": "skewed"}


def test_two_alike_intents_get_two_requests_each_the_closest_in_time():
    intents = [intent("i2", at=20), intent("i1", at=0)]
    assert match(intents, [listed("mb-b", at=21), listed("mb-a", at=1)]) == {"i1": "mb-a", "i2": "mb-b"}


def test_an_intent_nothing_fits_is_left_unmatched():
    assert match([intent("i1"), intent("i2", at=5)], [listed("mb-1")]) == {"i1": "mb-1"}
