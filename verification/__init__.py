"""Verifying MessageBird's signed callbacks, without I/O of its own.

The caller hands over the header, the raw body bytes, the URL and the keys, and
gets back the verified facts or a ``SignatureError`` whose ``reason`` is one word
from ``REASONS``. Nothing here imports a web framework or touches the network,
the disk or a database; the clock is the ``now=`` argument (default ``time.time()``).

- ``verify_hmac_signature``: ``X-MessageBird-Signature`` (Personal Data API callbacks).
- ``verify_jwt``: ``MessageBird-Signature-JWT`` (every MessageBird HTTP request).
- ``MemoryReplayCache``: the in-process ``ReplayCache``; others live in ``storage/``.
- ``verification.testing``: a pytest plugin that signs requests the way MessageBird does.
"""

from verification.errors import REASONS, SignatureError
from verification.hmac_signature import HEADER as HMAC_HEADER
from verification.hmac_signature import VerifiedTimestamp, verify_hmac_signature
from verification.jwt_signature import HEADER as JWT_HEADER
from verification.jwt_signature import jti_replay_key, record_jti, verify_jwt
from verification.replay import MemoryReplayCache, ReplayCache

#: The release; ``pyproject.toml`` reads it from here and CHANGELOG.md says what each one brought.
__version__ = "0.1.0"

__all__ = [
    "HMAC_HEADER",
    "JWT_HEADER",
    "REASONS",
    "MemoryReplayCache",
    "ReplayCache",
    "SignatureError",
    "VerifiedTimestamp",
    "jti_replay_key",
    "record_jti",
    "verify_hmac_signature",
    "verify_jwt",
]
