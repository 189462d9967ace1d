"""The request signature on every MessageBird HTTP request: ``MessageBird-Signature-JWT``.

A JWT signed with HMAC under the account's signing key, whose claims bind it to
the URL and body of the request (``url_hash``, ``payload_hash``) and to a time
window (``nbf``, ``exp``); ``jti`` lets the receiver refuse a replay.

PyJWT supplies the HMAC algorithms. The compact form is parsed here by PyJWT's own
rules (``_parse``: canonical base64url segments, at most two ``=``, a JSON object
header, ``kid`` a string, ``crit`` only naming what PyJWT supports, no detached
payload), checked against PyJWT by a property test, with the alphabet checked by one
regular expression instead of character by character (a third of the parse's cost on
every delivery, forged ones included). The claims and the time window are checked
here, against the injected ``now``, because PyJWT's own clock is ``time.time()``.
Only HMAC algorithms are ever accepted, so the token header cannot steer a key
towards an asymmetric algorithm (algorithm confusion), whatever the caller lists
in ``algorithms``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from jwt.algorithms import HMACAlgorithm

from verification._inputs import body_bytes, current_time
from verification.errors import SignatureError
from verification.replay import ReplayCache

HEADER = "MessageBird-Signature-JWT"
ISSUER = "MessageBird"
REQUIRED_CLAIMS = ("iss", "nbf", "exp", "jti", "url_hash")
DEFAULT_LEEWAY = 1

#: The only algorithms ``algorithms`` can enable; anything else, ``none`` included, is refused.
HMAC_ALGORITHMS = {
    "HS256": HMACAlgorithm(HMACAlgorithm.SHA256),
    "HS384": HMACAlgorithm(HMACAlgorithm.SHA384),
    "HS512": HMACAlgorithm(HMACAlgorithm.SHA512),
}

#: Seconds a used ``jti`` is remembered beyond ``exp + leeway``, against clock drift between workers.
REPLAY_MARGIN = 60

#: Longer tokens are refused unparsed; a real one is about 400 characters.
MAX_TOKEN_LENGTH = 8192

#: Larger timestamps are not timestamps; refusing them keeps the arithmetic in floats exact.
_MAX_TIMESTAMP = 2**53

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
#: The critical header parameters PyJWT understands (``b64``, which this verifier then refuses as detached).
_SUPPORTED_CRIT = frozenset({"b64"})


def url_hash(url: str) -> str:
    """Lowercase hex SHA-256 of the URL exactly as sent, query order included."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def replay_key(jti: str) -> str:
    """The ``ReplayCache`` key for a token, namespaced apart from the HMAC scheme's keys."""
    return f"jwt:{jti}"


def verify_jwt(
    token: str,
    *,
    url: str,
    body: bytes,
    keys: Sequence[str | bytes],
    now: float | None = None,
    leeway: int = DEFAULT_LEEWAY,
    algorithms: Sequence[str] = ("HS256",),
    replay_cache: ReplayCache | None = None,
) -> dict[str, Any]:
    """Verify a ``MessageBird-Signature-JWT`` header and return its claims.

    ``keys`` lists the signing keys in use (more than one while a key is rotated);
    any one verifying is enough. An empty or unusable key list is ``no_key``.
    The token passes when ``nbf - leeway <= now <= exp + leeway`` (both ends
    inclusive, as in MessageBird's Go SDK). The ``jti`` is recorded in ``replay_cache`` only after every other check has
    passed, so a forged token cannot burn the ``jti`` of a real one. Exceptions of
    the cache itself (its store being unreachable) propagate unchanged.
    """
    key_list = _signing_keys(keys)
    body = body_bytes(body)
    header, payload, signing_input, signature = _parse(token)
    algorithm = _allowed_algorithm(header, algorithms)
    _verify_signature(algorithm, signing_input, signature, key_list)
    claims = _load_claims(payload)
    _check_claims(claims, url=url, body=body, now=current_time(now), leeway=leeway)
    if replay_cache is not None:
        record_jti(replay_cache, claims, leeway=leeway)
    return claims


def _signing_keys(keys: object) -> tuple[bytes, ...]:
    """Keys as bytes (text keys are their UTF-8 bytes, as in MessageBird's SDKs).

    A bare ``str`` or ``bytes`` is refused rather than read as a sequence of one-character keys.
    """
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence) or not keys:
        raise SignatureError("no_key")
    return tuple(_key_bytes(key) for key in keys)


def _key_bytes(key: object) -> bytes:
    if isinstance(key, str):
        try:
            key = key.encode("utf-8")
        except UnicodeEncodeError:
            raise SignatureError("no_key") from None
    if not isinstance(key, bytes) or not key:
        raise SignatureError("no_key")
    return key


def _parse(token: object) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Header, payload, signing input and signature of a compact JWS, unverified."""
    if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
        raise SignatureError("malformed")
    signing_input, _, signature_segment = token.rpartition(".")
    header_segment, dot, payload_segment = signing_input.partition(".")
    if not dot:
        raise SignatureError("malformed")
    header = _header(_segment(header_segment))
    if header.get("b64", True) is False:  # a detached payload (RFC 7797): MessageBird signs the body's hash instead
        raise SignatureError("malformed")
    return header, _segment(payload_segment), signing_input.encode("ascii"), _segment(signature_segment)


def _segment(segment: str) -> bytes:
    """A canonical base64url segment's bytes, padded with at most two ``=`` (as PyJWT accepts)."""
    stripped = segment.rstrip("=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1 or not _BASE64URL.fullmatch(stripped):
        raise SignatureError("malformed")
    try:
        decoded = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error:
        raise SignatureError("malformed") from None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped.encode("ascii"):
        raise SignatureError("malformed")  # unused bits set: another spelling of the same bytes
    return decoded


def _header(data: bytes) -> dict[str, Any]:
    try:
        header = json.loads(data)
    except (ValueError, RecursionError):
        raise SignatureError("malformed") from None
    if not isinstance(header, dict) or not isinstance(header.get("kid", ""), str):
        raise SignatureError("malformed")
    if "crit" in header and not _critical_understood(header):
        raise SignatureError("malformed")
    return header


def _critical_understood(header: dict[str, Any]) -> bool:
    crit = header["crit"]
    if not isinstance(crit, list) or not crit:
        return False
    return all(isinstance(name, str) and name in _SUPPORTED_CRIT and name in header for name in crit)


def _allowed_algorithm(header: dict[str, Any], algorithms: Sequence[str]) -> HMACAlgorithm:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in HMAC_ALGORITHMS or alg not in algorithms:
        raise SignatureError("alg_not_allowed")
    return HMAC_ALGORITHMS[alg]


def _verify_signature(
    algorithm: HMACAlgorithm, signing_input: bytes, signature: bytes, keys: tuple[bytes, ...]
) -> None:
    """Pass when any key verifies; each comparison is constant-time (``hmac.compare_digest``)."""
    if not any(algorithm.verify(signing_input, key, signature) for key in keys):
        raise SignatureError("bad_signature")


def _load_claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError):
        raise SignatureError("malformed") from None
    if not isinstance(claims, dict):
        raise SignatureError("malformed")
    return claims


def _check_claims(claims: dict[str, Any], *, url: str, body: bytes, now: float, leeway: int) -> None:
    """MessageBird's claim rules; both ends of the time window are inclusive."""
    if any(name not in claims for name in REQUIRED_CLAIMS):
        raise SignatureError("missing_claim")
    if claims["iss"] != ISSUER:
        raise SignatureError("issuer")
    if now < _timestamp(claims["nbf"]) - leeway:
        raise SignatureError("not_yet_valid")
    if now > _timestamp(claims["exp"]) + leeway:
        raise SignatureError("expired")
    _check_jti(claims["jti"])
    if not _hex_digest_equal(_expected_url_hash(url), claims["url_hash"]):
        raise SignatureError("url_mismatch")
    _check_payload_hash(claims, body)


def _timestamp(value: object) -> int | float:
    """A claim holding a Unix time: a finite JSON number (not a boolean) of sane size."""
    if type(value) is int and abs(value) <= _MAX_TIMESTAMP:
        return value
    if type(value) is float and math.isfinite(value) and abs(value) <= _MAX_TIMESTAMP:
        return value
    raise SignatureError("malformed")


def _check_jti(jti: object) -> None:
    if not isinstance(jti, str):
        raise SignatureError("malformed")
    if not jti:
        raise SignatureError("missing_claim")


def _expected_url_hash(url: object) -> str:
    if not isinstance(url, str):
        raise SignatureError("malformed")
    try:
        return url_hash(url)
    except UnicodeEncodeError:
        raise SignatureError("malformed") from None


def _check_payload_hash(claims: dict[str, Any], body: bytes) -> None:
    """Required and equal for a non-empty body; absent for an empty one."""
    if not body:
        if "payload_hash" in claims:
            raise SignatureError("payload_unexpected")
        return
    if "payload_hash" not in claims:
        raise SignatureError("payload_missing")
    if not _hex_digest_equal(payload_hash(body), claims["payload_hash"]):
        raise SignatureError("payload_mismatch")


def _hex_digest_equal(expected: str, claimed: object) -> bool:
    """Constant-time equality of a computed hex digest and a claim; a non-string claim is malformed."""
    if not isinstance(claimed, str):
        raise SignatureError("malformed")
    return claimed.isascii() and hmac.compare_digest(expected, claimed)


def record_jti(replay_cache: ReplayCache, claims: dict[str, Any], *, leeway: int = DEFAULT_LEEWAY) -> None:
    """Record a verified token's ``jti`` until it could no longer verify; ``replayed`` if it is already there.

    ``verify_jwt(replay_cache=...)`` calls it last. A caller that verifies first and
    records later (inside the transaction that stores the delivery) passes the claims
    ``verify_jwt`` returned and the same ``leeway``.
    """
    if not replay_cache.add(*jti_replay_key(claims, leeway=leeway)):
        raise SignatureError("replayed")


def jti_replay_key(claims: dict[str, Any], *, leeway: int = DEFAULT_LEEWAY) -> tuple[str, float]:
    """A verified token's replay key and until when it must be kept: as long as the token could still verify."""
    return replay_key(claims["jti"]), float(claims["exp"]) + leeway + REPLAY_MARGIN
