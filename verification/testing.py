"""A pytest plugin that signs requests the way MessageBird does, for this project and its integrators.

Installed with pip (``messagebird-signature-verification[pytest]``), it loads itself through
its ``pytest11`` entry point. From a checkout, load it with ``pytest_plugins =
["verification.testing"]`` in the root ``conftest.py`` (or ``pytest -p verification.testing``);
the entry point bears the module's name, so either also works beside it. It provides:

- ``sign_hmac`` and ``sign_jwt``: header values for one request, built with the
  same payload and hash helpers the verifiers use, so the two cannot drift apart;
- fixtures ``messagebird_signing_key`` (the JWT key), ``messagebird_signature_key``
  (the Personal Data API ``signatureKey``, base64) and ``messagebird_signer``,
  which returns both headers for a URL and body, or breaks one rule on request;
  override the two key fixtures to match the keys your application is configured with;
- ``ReplayCacheContract``: the promises every ``ReplayCache`` backend keeps.

Only tests import this module: it needs pytest, which the service does not.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from jwt.api_jws import get_algorithm_by_name
from jwt.utils import base64url_encode

from verification.errors import SignatureError
from verification.hmac_signature import HEADER as HMAC_HEADER
from verification.hmac_signature import compute_v1, signing_mac
from verification.jwt_signature import HEADER as JWT_HEADER
from verification.jwt_signature import (
    HMAC_ALGORITHMS,
    ISSUER,
    payload_hash,
    url_hash,
    verify_jwt,
)
from verification.replay import ReplayCache

#: Lifetime of a signed token, ``exp - nbf``, in seconds (our choice; MessageBird does not publish its own).
JWT_TTL = 300

#: How far in the past ``expired=True`` signs, well beyond the default tolerance and leeway.
EXPIRED_BY = 3600


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


#: Pass as a claim override to ``sign_jwt`` to leave that claim out of the token.
OMIT = _Omit()


def sign_hmac(key: str, body: bytes, t: int | None = None, *, key_encoding: str = "base64") -> str:
    """An ``X-MessageBird-Signature`` value, ``t=<t>,v1=<hex>``, for ``body`` at time ``t`` (default now).

    ``key`` is read as base64 by default, as the docs describe ``signatureKey``;
    ``key_encoding="raw"`` signs with its UTF-8 bytes instead. Both are what the
    verifier's ``key_encoding="auto"`` accepts. A key that cannot be read the
    requested way raises ``SignatureError("no_key")``, exactly as the verifier would.
    """
    t = int(time.time()) if t is None else t
    return f"t={t},v1={compute_v1(signing_mac(key, key_encoding), t, body)}"


def sign_jwt(
    key: str | bytes | Any,
    url: str,
    body: bytes,
    now: float | None = None,
    *,
    algorithm: str = "HS256",
    headers: Mapping[str, Any] | None = None,
    **claim_overrides: Any,
) -> str:
    """A ``MessageBird-Signature-JWT`` value for a request to ``url`` with ``body``.

    The claims are MessageBird's: ``iss``, ``nbf`` = ``now``, ``exp`` = ``now + JWT_TTL``,
    a fresh ``jti``, ``url_hash`` and, for a non-empty body, ``payload_hash``. Each
    keyword in ``claim_overrides`` replaces one claim, or removes it when its value is
    ``OMIT``. ``headers`` are merged into the JOSE header last, so they may contradict
    ``algorithm``, which is the one actually used to sign (``"none"`` signs nothing).
    """
    claims = _default_claims(url, body, time.time() if now is None else now)
    claims.update(claim_overrides)
    claims = {name: value for name, value in claims.items() if value is not OMIT}
    header = {"alg": algorithm, "typ": "JWT", **(headers or {})}
    signing_input = _segment(header) + b"." + _segment(claims)
    signature = _sign(algorithm, signing_input, key)
    return (signing_input + b"." + base64url_encode(signature)).decode("ascii")


def _default_claims(url: str, body: bytes, now: float) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "nbf": int(now),
        "exp": int(now) + JWT_TTL,
        "jti": uuid.uuid4().hex,
        "url_hash": url_hash(url),
    }
    if body:
        claims["payload_hash"] = payload_hash(body)
    return claims


def _segment(part: Mapping[str, Any]) -> bytes:
    return base64url_encode(json.dumps(part, separators=(",", ":")).encode("utf-8"))


def _sign(algorithm: str, signing_input: bytes, key: Any) -> bytes:
    """HMAC through the verifier's own algorithm objects; other algorithms through PyJWT's.

    The HMAC path skips PyJWT's short-key warning: MessageBird picks the key length, not us.
    """
    if algorithm == "none":
        return b""
    if algorithm in HMAC_ALGORITHMS:
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        return HMAC_ALGORITHMS[algorithm].sign(signing_input, key_bytes)
    other = get_algorithm_by_name(algorithm)
    return other.sign(signing_input, other.prepare_key(key))


def refusal_reason(verify: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The ``reason`` of the ``SignatureError`` that ``verify(*args, **kwargs)`` raises.

    Fails the test when the call raises nothing.
    """
    with pytest.raises(SignatureError) as refused:
        verify(*args, **kwargs)
    return refused.value.reason


def new_signing_key() -> str:
    """A random JWT signing key."""
    return secrets.token_urlsafe(32)


def new_signature_key() -> str:
    """A random Personal Data API ``signatureKey``: 32 random bytes, standard base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class MessageBirdSigner:
    """Signs a request as MessageBird would, or with one rule deliberately broken.

    ``signer(url, body)`` returns ``{"MessageBird-Signature-JWT": ..., "X-MessageBird-Signature": ...}``
    for exactly that URL and body. Each switch breaks one rule, in both headers where
    the rule applies to both:

    - ``expired``: signed ``EXPIRED_BY`` seconds ago (``expired``, ``timestamp_out_of_tolerance``);
    - ``wrong_key``: signed with fresh random keys (``bad_signature``);
    - ``wrong_url``: the token names another URL (``url_mismatch``; the HMAC does not cover the URL);
    - ``tampered_body``: signed over a different body (``payload_mismatch``, or
      ``payload_unexpected`` when the body sent is empty; ``bad_signature`` for the HMAC);
    - ``replayed``: reuses the previous call's ``jti`` and ``t`` (``replayed`` with a replay cache);
    - ``wrong_alg``: an unsigned ``alg: none`` token (``alg_not_allowed``; the HMAC is unaffected).
    """

    def __init__(
        self,
        signing_key: str,
        signature_key: str,
        *,
        key_encoding: str = "base64",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signing_key = signing_key
        self.signature_key = signature_key
        self.key_encoding = key_encoding
        self.clock = clock
        self.last_jti: str | None = None
        self.last_timestamp: int | None = None

    def __call__(
        self,
        url: str,
        body: bytes,
        *,
        now: float | None = None,
        expired: bool = False,
        wrong_key: bool = False,
        wrong_url: bool = False,
        tampered_body: bool = False,
        replayed: bool = False,
        wrong_alg: bool = False,
    ) -> dict[str, str]:
        now = (self.clock() if now is None else now) - (EXPIRED_BY if expired else 0)
        jti, t = self._identity(now, replayed)
        signing_key, signature_key = (
            (new_signing_key(), new_signature_key()) if wrong_key else (self.signing_key, self.signature_key)
        )
        signed_body = body + b"tampered" if tampered_body else body
        signed_url = url + "/elsewhere" if wrong_url else url
        algorithm = "none" if wrong_alg else "HS256"
        return {
            JWT_HEADER: sign_jwt(signing_key, signed_url, signed_body, now, algorithm=algorithm, jti=jti),
            HMAC_HEADER: sign_hmac(signature_key, signed_body, t, key_encoding=self.key_encoding),
        }

    def _identity(self, now: float, replayed: bool) -> tuple[str, int]:
        """The ``jti`` and ``t`` for this request: fresh, or the previous request's for a replay."""
        if replayed:
            if self.last_jti is None or self.last_timestamp is None:
                raise ValueError("replayed=True needs an earlier signed request to replay")
            return self.last_jti, self.last_timestamp
        self.last_jti, self.last_timestamp = uuid.uuid4().hex, int(now)
        return self.last_jti, self.last_timestamp


@pytest.fixture
def messagebird_signing_key() -> str:
    """The JWT signing key; override it to return the key your application verifies with."""
    return new_signing_key()


@pytest.fixture
def messagebird_signature_key() -> str:
    """The Personal Data API ``signatureKey`` (base64); override it like ``messagebird_signing_key``."""
    return new_signature_key()


@pytest.fixture
def messagebird_signer(messagebird_signing_key: str, messagebird_signature_key: str) -> MessageBirdSigner:
    return MessageBirdSigner(messagebird_signing_key, messagebird_signature_key)


class ReplayCacheContract:
    """The promises of every ``ReplayCache``, run against each backend.

    Subclass it in a test module as ``TestXxxReplayCache`` and provide a
    ``replay_cache`` fixture returning the backend under test. Keys are random,
    so a backend may keep its state between tests.
    """

    THREADS = 16

    def test_first_add_is_true(self, replay_cache: ReplayCache) -> None:
        assert replay_cache.add(_fresh_key(), time.time() + 60) is True

    def test_second_add_is_false(self, replay_cache: ReplayCache) -> None:
        key = _fresh_key()
        replay_cache.add(key, time.time() + 60)
        assert replay_cache.add(key, time.time() + 60) is False

    def test_distinct_keys_are_independent(self, replay_cache: ReplayCache) -> None:
        first, second = _fresh_key(), _fresh_key()
        assert replay_cache.add(first, time.time() + 60) is True
        assert replay_cache.add(second, time.time() + 60) is True
        assert replay_cache.add(first, time.time() + 60) is False

    def test_an_expired_key_can_be_added_again(self, replay_cache: ReplayCache) -> None:
        key = _fresh_key()
        assert replay_cache.add(key, time.time() - 1) is True
        assert replay_cache.add(key, time.time() + 60) is True
        assert replay_cache.add(key, time.time() + 60) is False

    def test_concurrent_adds_of_one_key_admit_exactly_one(self, replay_cache: ReplayCache) -> None:
        key, expires_at = _fresh_key(), time.time() + 60
        start = threading.Barrier(self.THREADS)
        results: list[bool] = []

        def add() -> None:
            start.wait(timeout=10)
            results.append(replay_cache.add(key, expires_at))

        threads = [threading.Thread(target=add) for _ in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results) == [False] * (self.THREADS - 1) + [True]

    def test_verify_jwt_refuses_a_replayed_jti(self, replay_cache: ReplayCache) -> None:
        key, url, body = new_signing_key(), "https://example.test/callback?id=1", b'{"requestId":"r1"}'
        token = sign_jwt(key, url, body)
        verify_jwt(token, url=url, body=body, keys=[key], replay_cache=replay_cache)
        with pytest.raises(SignatureError) as refused:
            verify_jwt(token, url=url, body=body, keys=[key], replay_cache=replay_cache)
        assert refused.value.reason == "replayed"


def _fresh_key() -> str:
    return f"contract:{uuid.uuid4().hex}"
