"""The verification layer's one error type.

Every refusal is a ``SignatureError`` whose ``reason`` is one word from ``REASONS``.
The reason becomes a log field and a metric label; the message is the fixed,
generic sentence below, so it never carries a key, a token, a header or a body
and is safe to log as it is.
"""

from __future__ import annotations

#: The fixed vocabulary of ``SignatureError.reason``, each with its generic message.
REASONS: dict[str, str] = {
    # either scheme
    "malformed": "the signature header or a claim is not in the expected format",
    "no_key": "no usable signing key was configured",
    "bad_signature": "the signature does not match any configured key",
    # X-MessageBird-Signature (HMAC)
    "timestamp_out_of_tolerance": "the signature timestamp is outside the allowed window",
    # MessageBird-Signature-JWT
    "alg_not_allowed": "the token algorithm is not allowed",
    "issuer": "the token issuer is not MessageBird",
    "missing_claim": "a required token claim is missing",
    "not_yet_valid": "the token is not valid yet",
    "expired": "the token has expired",
    "url_mismatch": "the token was issued for a different URL",
    "payload_mismatch": "the token was issued for a different body",
    "payload_missing": "the body is not empty but the token has no payload hash",
    "payload_unexpected": "the body is empty but the token has a payload hash",
    "replayed": "the token was already used",
}


class SignatureError(Exception):
    """A callback signature was refused; ``reason`` is a key of ``REASONS``."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown signature error reason: {reason!r}")
        super().__init__(REASONS[reason])
        self.reason = reason
        self.message = REASONS[reason]

    def __reduce__(self) -> tuple[type[SignatureError], tuple[str]]:
        return (type(self), (self.reason,))

    def __repr__(self) -> str:
        return f"SignatureError({self.reason!r})"
