"""The deadline engine's one error type.

Every refusal is a ``DeadlineError`` whose ``reason`` is one word from ``REASONS``.
Reasons in ``CONFLICTS`` refuse an action because of the case's state or the date
(a web layer answers 409); the others refuse input that can never be right
(a web layer answers 400). The message is the fixed sentence below: it never
carries a date, a reason text or anything else the caller passed in.
"""

from __future__ import annotations

#: The fixed vocabulary of ``DeadlineError.reason``, each with its message.
REASONS: dict[str, str] = {
    # settings and calendars
    "unknown_jurisdiction": "the jurisdiction is neither EU nor UK",
    "invalid_setting": "a calendar, margin or threshold setting is not valid",
    "date_out_of_range": "a date is outside the years the calendar can compute",
    # the start of the clock
    "clock_start_before_receipt": "the clock cannot start before the request was received",
    "clock_start_uk_only": "a later clock start applies to UK requests only",
    # stopping the clock
    "pause_before_clock_start": "a pause cannot start before the clock starts",
    "resume_before_pause": "a pause cannot end before it starts",
    "overlapping_pauses": "pauses overlap, or a pause follows one that has not ended",
    "open_pause_needs_today": "an open pause is counted up to today, which was not given",
    "pause_after_today": "an open pause cannot start after today",
    "pause_after_deadline": "the clock cannot be stopped after the deadline has passed",
    "already_paused": "the clock is already stopped",
    "not_paused": "the clock is not stopped",
    # extension
    "extension_needs_reason": "an extension needs the reason given to the data subject",
    "informed_before_receipt": "the data subject cannot be informed before the request was received",
    "informed_after_first_deadline": "the data subject must be informed of an extension within the first deadline",
    "first_deadline_passed": "the first deadline has passed, so the deadline can no longer be extended",
    "already_extended": "the deadline has already been extended",
}

#: Reasons that refuse an action because of the case's state or the date (HTTP 409).
CONFLICTS: frozenset[str] = frozenset(
    {
        "pause_after_deadline",
        "already_paused",
        "not_paused",
        "informed_after_first_deadline",
        "first_deadline_passed",
        "already_extended",
    }
)


class DeadlineError(Exception):
    """A deadline could not be computed or changed; ``reason`` is a key of ``REASONS``."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown deadline error reason: {reason!r}")
        super().__init__(REASONS[reason])
        self.reason = reason
        self.message = REASONS[reason]

    @property
    def is_conflict(self) -> bool:
        """True when the refusal is about state or timing (409), False for invalid input (400)."""
        return self.reason in CONFLICTS

    def __reduce__(self) -> tuple[type[DeadlineError], tuple[str]]:
        return (type(self), (self.reason,))

    def __repr__(self) -> str:
        return f"DeadlineError({self.reason!r})"
