"""The one retry delay of the service: exponential backoff with jitter.

Used by the worker between attempts of a job and by the provider transport
between attempts of an API call.
"""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, *, base: float, cap: float | None = None) -> float:
    """A delay between half and all of ``base * 2^(attempt-1)`` (capped at ``cap``), at random.

    The jitter spreads retries of many clients that failed together (AWS's
    "Exponential Backoff And Jitter", the "equal jitter" variant); keeping at
    least half keeps the backoff growing.
    """
    ceiling = base * 2 ** max(0, attempt - 1)
    if cap is not None:
        ceiling = min(cap, ceiling)
    return random.uniform(ceiling / 2, ceiling)
