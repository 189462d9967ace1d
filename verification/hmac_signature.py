"""The Personal Data API callback signature: ``X-MessageBird-Signature: t=<unix>,v1=<hex>``.

``v1`` is the lowercase hex HMAC-SHA256 of ``<t>.<raw body>`` under the request's
``signatureKey``. The docs call that key "base64-encoded", while every MessageBird
SDK uses its other keys as the raw string's bytes, and no real callback settles
which one the signer uses. So by default both are tried, and the result says
which one matched, for the caller's log; ``key_encoding`` pins one.

The signing helpers in ``verification.testing`` call ``signing_mac`` and
``compute_v1`` from here, so the signer and the verifier cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re

from verification._inputs import body_bytes, current_time
from verification.errors import SignatureError

HEADER = "X-MessageBird-Signature"
KEY_ENCODINGS = ("base64", "raw")
_ENCODING_CHOICES = ("auto", *KEY_ENCODINGS)
DEFAULT_TOLERANCE = 300

#: Longer headers are refused unread; a real one is about 80 characters.
MAX_HEADER_LENGTH = 4096
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
#: The header exactly as MessageBird writes it, parsed without the general loop.
_CANONICAL = re.compile(r"t=([0-9]{1,15}),v1=([0-9a-f]{64})")


class VerifiedTimestamp(int):
    """The verified ``t``, an ``int`` that also says how it was verified.

    ``key_encoding`` is "base64" or "raw", the reading of the key that matched;
    ``signature`` is the matching ``v1`` value (public: it came in the header).
    """

    key_encoding: str
    signature: str

    def __new__(cls, t: int, key_encoding: str, signature: str) -> VerifiedTimestamp:
        verified = int.__new__(cls, t)
        verified.key_encoding = key_encoding
        verified.signature = signature
        return verified

    def __getnewargs__(self) -> tuple[int, str, str]:  # type: ignore[override]  # unpickling needs all three
        return int(self), self.key_encoding, self.signature

    @property
    def replay_key(self) -> str:
        """A ``ReplayCache`` key for this delivery, namespaced apart from the JWT's ``jwt:<jti>``."""
        return f"hmac:{int(self)}:{self.signature}"


def signed_payload(t: int | str, body: bytes) -> bytes:
    """``<t>.<raw body>``: the bytes the HMAC covers."""
    return str(t).encode("ascii") + b"." + body


def keyed_mac(key: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with ``key`` and fed nothing yet: the template ``compute_v1`` copies.

    Setting a key up costs more than hashing a callback body, so the verifier keeps
    one of these per configured key and copies it for each message.
    """
    return hmac.new(key, digestmod="sha256")


def compute_v1(mac: hmac.HMAC, t: int | str, body: bytes) -> str:
    """The ``v1`` value for ``t`` and ``body``, from a copy of the keyed ``mac`` (left untouched)."""
    message_mac = mac.copy()
    message_mac.update(signed_payload(t, body))
    return message_mac.hexdigest()


def signing_mac(key: str, key_encoding: str) -> hmac.HMAC:
    """The MAC for one reading, "base64" or "raw", of ``key``; ``no_key`` if it cannot be read so."""
    if key_encoding not in KEY_ENCODINGS:
        raise SignatureError("no_key")
    return _usable_keys(key, key_encoding)[0][1]


def verify_hmac_signature(
    header: str,
    *,
    body: bytes,
    key: str,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    key_encoding: str = "auto",
) -> VerifiedTimestamp:
    """Verify an ``X-MessageBird-Signature`` header and return its timestamp.

    The signature is checked before the timestamp, so a forged header is reported
    as ``bad_signature`` whatever its ``t``. ``t`` passes when it is at most
    ``tolerance`` seconds away from ``now`` in either direction.
    """
    candidates = _usable_keys(key, key_encoding)
    t, signatures = _parse_header(header)
    encoding, signature = _match(candidates, t, body_bytes(body), signatures)
    timestamp = int(t)
    _check_tolerance(timestamp, current_time(now), tolerance)
    return VerifiedTimestamp(timestamp, encoding, signature)


def _parse_header(header: object) -> tuple[str, list[str]]:
    """Split ``t=..,v1=..[,v1=..]`` into the timestamp as sent and the ``v1`` values.

    Unknown schemes and items without ``=`` are ignored; exactly one ``t`` made of
    ASCII digits and at least one ``v1`` are required.
    """
    if not isinstance(header, str) or len(header) > MAX_HEADER_LENGTH:
        raise SignatureError("malformed")
    canonical = _CANONICAL.fullmatch(header)
    if canonical:
        return canonical[1], [canonical[2]]
    timestamps, signatures = [], []
    for item in header.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if sep and name == "t":
            timestamps.append(value.strip())
        elif sep and name == "v1":
            signatures.append(value.strip())
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]) or not signatures:
        raise SignatureError("malformed")
    return timestamps[0], signatures


def _match(
    candidates: tuple[tuple[str, hmac.HMAC], ...], t: str, body: bytes, signatures: list[str]
) -> tuple[str, str]:
    """The (key encoding, v1) pair that verifies, compared in constant time."""
    for encoding, mac in candidates:
        expected = compute_v1(mac, t, body)
        for signature in signatures:
            if signature.isascii() and hmac.compare_digest(expected, signature):
                return encoding, signature
    raise SignatureError("bad_signature")


def _check_tolerance(t: int, now: float, tolerance: int) -> None:
    if abs(now - t) > tolerance:
        raise SignatureError("timestamp_out_of_tolerance")


def _usable_keys(key: object, key_encoding: object) -> tuple[tuple[str, hmac.HMAC], ...]:
    """The readings of ``key`` to try, as (encoding, MAC); ``no_key`` when there is none."""
    if not isinstance(key, str) or key_encoding not in _ENCODING_CHOICES:
        raise SignatureError("no_key")
    macs = _keyed_readings(key, key_encoding)
    if not macs:
        raise SignatureError("no_key")
    return macs


@functools.lru_cache(maxsize=64)
def _keyed_readings(key: str, key_encoding: str) -> tuple[tuple[str, hmac.HMAC], ...]:
    """Cached because the same few configured keys arrive on every request."""
    readings = key_readings(key, key_encoding)
    return tuple((encoding, keyed_mac(key_bytes)) for encoding, key_bytes in readings)


def key_readings(key: str, key_encoding: str) -> tuple[tuple[str, bytes], ...]:
    """The byte strings ``key`` may stand for, as (encoding, bytes), base64 first.

    Readings that fail or come out empty are left out.
    """
    readings = []
    if key_encoding in ("auto", "base64"):
        decoded = _b64decode(key)
        if decoded:
            readings.append(("base64", decoded))
    if key_encoding in ("auto", "raw"):
        raw = _utf8(key)
        if raw:
            readings.append(("raw", raw))
    return tuple(readings)


def _b64decode(key: str) -> bytes | None:
    """Decode standard or URL-safe base64, padded or not; None when ``key`` is neither."""
    stripped = key.rstrip("=")
    if not stripped.isascii() or len(stripped) % 4 == 1:
        return None
    if "-" in stripped or "_" in stripped:
        if "+" in stripped or "/" in stripped:
            return None
        stripped = stripped.translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except binascii.Error:
        return None


def _utf8(key: str) -> bytes | None:
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError:
        return None
