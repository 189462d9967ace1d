"""The one retry schedule of the service: exponential backoff, doubling from a base up to a cap.

``backoff_seconds`` adds jitter: the worker between attempts of a job and the provider
transport between attempts of an API call. ``doubling_seconds`` is the schedule itself,
without jitter: VoodooSMS's status polling of one request, which has no crowd to spread.
"""

from __future__ import annotations

import random


def doubling_seconds(attempt: int, *, base: float, cap: float | None = None) -> float:
    """``base * 2^(attempt-1)`` seconds, at most ``cap``: ``base`` after the first attempt, doubling after each."""
    ceiling = base * 2 ** max(0, attempt - 1)
    return float(min(cap, ceiling) if cap is not None else ceiling)


def backoff_seconds(attempt: int, *, base: float, cap: float | None = None) -> float:
    """A delay between half and all of ``doubling_seconds(attempt, base=base, cap=cap)``, at random.

    The jitter spreads retries of many clients that failed together (AWS's
    "Exponential Backoff And Jitter", the "equal jitter" variant); keeping at
    least half keeps the backoff growing.
    """
    ceiling = doubling_seconds(attempt, base=base, cap=cap)
    return random.uniform(ceiling / 2, ceiling)
