"""Input coercions shared by both signature schemes."""

from __future__ import annotations

import time

from verification.errors import SignatureError


def body_bytes(body: object) -> bytes:
    """The raw body as bytes; text is refused, since guessing its encoding would change the hash."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    raise SignatureError("malformed")


def current_time(now: float | None) -> float:
    return time.time() if now is None else now
