"""SignatureError: a fixed vocabulary of reasons, generic messages, and every reason reachable."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from verification import REASONS, MemoryReplayCache, SignatureError, verify_hmac_signature, verify_jwt
from verification.testing import OMIT, new_signature_key, refusal_reason, sign_hmac, sign_jwt

NOW = 1_700_000_000
URL = "https://gdpr.example.com/callbacks/messagebird?request=1"
BODY = b'{"requestId":"1"}'
JWT_KEY = "jwt-signing-key-for-the-reason-table"
HMAC_KEY = new_signature_key()


def jwt_refusal(token: str, **overrides: object) -> str:
    arguments = {"url": URL, "body": BODY, "keys": [JWT_KEY], "now": NOW, **overrides}
    return refusal_reason(verify_jwt, token, **arguments)


def hmac_refusal(header: str, **overrides: object) -> str:
    arguments = {"body": BODY, "key": HMAC_KEY, "now": NOW, **overrides}
    return refusal_reason(verify_hmac_signature, header, **arguments)


def jwt(**claims: object) -> str:
    return sign_jwt(JWT_KEY, URL, BODY, NOW, **claims)


def replayed() -> str:
    cache = MemoryReplayCache(clock=lambda: NOW)
    verify_jwt(jwt(jti="once"), url=URL, body=BODY, keys=[JWT_KEY], now=NOW, replay_cache=cache)
    return jwt_refusal(jwt(jti="once"), replay_cache=cache)


#: One way to provoke each reason; the test below insists the table covers all of them.
PROVOKE: dict[str, Callable[[], str]] = {
    "malformed": lambda: hmac_refusal("t=soon,v1=00"),
    "no_key": lambda: jwt_refusal(jwt(), keys=[]),
    "bad_signature": lambda: hmac_refusal(sign_hmac(new_signature_key(), BODY, NOW)),
    "timestamp_out_of_tolerance": lambda: hmac_refusal(sign_hmac(HMAC_KEY, BODY, NOW - 301)),
    "alg_not_allowed": lambda: jwt_refusal(jwt(algorithm="none")),
    "issuer": lambda: jwt_refusal(jwt(iss="Someone")),
    "missing_claim": lambda: jwt_refusal(jwt(jti=OMIT)),
    "not_yet_valid": lambda: jwt_refusal(jwt(nbf=NOW + 2)),
    "expired": lambda: jwt_refusal(jwt(exp=NOW - 2)),
    "url_mismatch": lambda: jwt_refusal(jwt(), url=URL + "&more=1"),
    "payload_mismatch": lambda: jwt_refusal(jwt(), body=BODY + b"\n"),
    "payload_missing": lambda: jwt_refusal(jwt(payload_hash=OMIT)),
    "payload_unexpected": lambda: jwt_refusal(jwt(), body=b""),
    "replayed": replayed,
}


def test_the_table_covers_every_reason() -> None:
    assert set(PROVOKE) == set(REASONS)


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_is_reachable(reason: str) -> None:
    assert PROVOKE[reason]() == reason


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_the_message_is_the_fixed_generic_one(reason: str) -> None:
    error = SignatureError(reason)
    assert str(error) == REASONS[reason] == error.message
    assert error.reason == reason


def test_an_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown signature error reason"):
        SignatureError("because")


def test_it_survives_pickling() -> None:
    restored = pickle.loads(pickle.dumps(SignatureError("expired")))
    assert (type(restored), restored.reason) == (SignatureError, "expired")


@pytest.mark.parametrize("mangle", [lambda token: token + "x", lambda token: "{" + token], ids=["signature", "parse"])
def test_no_key_or_token_reaches_the_message_or_a_chained_exception(mangle: Callable[[str], str]) -> None:
    secret = "super-secret-key"
    token = mangle(sign_jwt(secret, URL, BODY, NOW))
    with pytest.raises(SignatureError) as refused:
        verify_jwt(token, url=URL, body=BODY, keys=[secret], now=NOW)
    error = refused.value
    shown = " ".join([str(error), repr(error), repr(error.args)])
    assert secret not in shown and token not in shown
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
